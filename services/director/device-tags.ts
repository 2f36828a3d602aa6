import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { assertToken, deviceTagsSchema, parseJson, retag } from '../../core/index.ts';
import { withFileLock, writeFileAtomic } from '../../adapters/fs/index.ts';
import type { DirectorRepository } from './director-repository.ts';

/*
 * A device's tags (its groups) are kept by the Director beside its inventory
 * record, in a file of their own: the report listener rewrites the record on
 * every signed report, which would race with a tag written into it, and a
 * device provisioned again (--force, a new identity) stays in its groups.
 */

const tagsFileSchema = z.object({ tags: deviceTagsSchema });
const MAX_TAGS_FILE_BYTES = 8 * 1024;

function tagsPath(director: DirectorRepository, deviceId: string): string {
  return join(director.dir, 'tags', `${assertToken(deviceId, 'device id')}.json`);
}

/** The tags a device carries, sorted ([] for none). */
export async function deviceTags(director: DirectorRepository, deviceId: string): Promise<string[]> {
  const bytes = await readFile(tagsPath(director, deviceId)).catch(() => undefined);
  if (!bytes) return [];
  return parseJson(tagsFileSchema, bytes, { maxBytes: MAX_TAGS_FILE_BYTES, what: `tags of ${deviceId}` })
    .tags;
}

/**
 * Adds and removes tags of a device the Director knows (INVALID_INPUT for
 * one it does not, or a bad tag, or too many); returns its tags before and after.
 * Two operators tagging the same device at once are serialized by a lock.
 */
export async function tagDevice(
  director: DirectorRepository,
  deviceId: string,
  change: { add: readonly string[]; remove: readonly string[] },
): Promise<{ before: string[]; after: string[] }> {
  await director.inventory(deviceId); // an unknown device fails here
  const path = tagsPath(director, deviceId);
  await mkdir(join(director.dir, 'tags'), { recursive: true });
  return withFileLock(path, async () => {
    const before = await deviceTags(director, deviceId);
    const after = retag(before, change);
    await writeFileAtomic(path, `${JSON.stringify({ tags: after })}\n`);
    return { before, after };
  });
}

/** The devices the Director knows that carry `tag`. */
export async function devicesTagged(director: DirectorRepository, tag: string): Promise<string[]> {
  const devices = await director.devices();
  const tagged = await Promise.all(
    devices.map(async ({ deviceId }) =>
      (await deviceTags(director, deviceId)).includes(tag) ? deviceId : [],
    ),
  );
  return tagged.flat();
}
