import { z } from 'zod';
import { UprollError } from './errors.ts';

/** A device tag: a lower-case token that names a group of devices (`site.berlin`, `canary-pool`). */
export const TAG_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Tags one device may carry, at most: a tag is a group, not a place for data. */
export const MAX_TAGS_PER_DEVICE = 32;

export const tagSchema = z
  .string()
  .regex(TAG_PATTERN, 'a tag is 1-64 of a-z 0-9 . _ -, starting with a letter or digit');

/** A device's tags as stored: distinct valid tags, at most MAX_TAGS_PER_DEVICE. */
export const deviceTagsSchema = z
  .array(tagSchema)
  .max(MAX_TAGS_PER_DEVICE)
  .refine((tags) => new Set(tags).size === tags.length, 'tags are listed once each');

/** Throws INVALID_INPUT unless `value` is a valid tag; returns it otherwise. */
export function assertTag(value: string): string {
  if (!TAG_PATTERN.test(value))
    throw new UprollError(
      'INVALID_INPUT',
      `tag ${JSON.stringify(value.slice(0, 80))} must be 1-64 of a-z 0-9 . _ -, starting with a letter or digit`,
    );
  return value;
}

/**
 * A device's tags after adding and removing some, sorted. Every tag named
 * is checked; more than MAX_TAGS_PER_DEVICE in the end is refused (INVALID_INPUT).
 */
export function retag(
  current: readonly string[],
  change: { add: readonly string[]; remove: readonly string[] },
): string[] {
  for (const tag of [...change.add, ...change.remove]) assertTag(tag);
  const removed = new Set(change.remove);
  const tags = [...new Set([...current, ...change.add])].filter((tag) => !removed.has(tag)).sort();
  if (tags.length > MAX_TAGS_PER_DEVICE)
    throw new UprollError(
      'INVALID_INPUT',
      `a device carries at most ${MAX_TAGS_PER_DEVICE} tags; this would give it ${tags.length}`,
    );
  return tags;
}

/** What a retag changed, for the audit trail: the tags added and removed, and a line that says it. */
export function tagChange(before: readonly string[], after: readonly string[]) {
  const added = after.filter((tag) => !before.includes(tag));
  const removed = before.filter((tag) => !after.includes(tag));
  const summary = [
    ...(added.length > 0 ? [`tagged ${added.join(' ')}`] : []),
    ...(removed.length > 0 ? [`untagged ${removed.join(' ')}`] : []),
  ].join(', ');
  return { added, removed, summary };
}
