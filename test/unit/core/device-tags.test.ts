import { describe, expect, it } from 'vitest';
import { MAX_TAGS_PER_DEVICE, retag, rolloutTargetSchema, TAG_PATTERN } from '../../../core/index.ts';

describe('device tags', () => {
  it.each(['site.berlin', 'canary-pool', 'a', '0', 'eu_west.2', 'x'.repeat(64)])('accepts %j', (tag) => {
    expect(TAG_PATTERN.test(tag)).toBe(true);
  });

  it.each(['', 'Berlin', '-lead', '.hidden', 'a b', 'a/b', 'x'.repeat(65), 'tag\n', 'ünï'])(
    'refuses %j',
    (tag) => {
      expect(TAG_PATTERN.test(tag)).toBe(false);
      expect(() => retag([], { add: [tag], remove: [] })).toThrowWithCode('INVALID_INPUT');
    },
  );

  it('adds and removes, each tag once, sorted', () => {
    expect(retag(['b', 'a'], { add: ['c', 'a'], remove: ['b', 'never-there'] })).toEqual(['a', 'c']);
  });

  it(`refuses more than ${MAX_TAGS_PER_DEVICE} tags on one device, and a bad tag to remove`, () => {
    const many = Array.from({ length: MAX_TAGS_PER_DEVICE }, (_, i) => `t${i}`);
    expect(retag([], { add: many, remove: [] })).toHaveLength(MAX_TAGS_PER_DEVICE);
    expect(() => retag(many, { add: ['one-more'], remove: [] })).toThrowWithCode('INVALID_INPUT');
    expect(retag(many, { add: ['one-more'], remove: ['t0'] })).toHaveLength(MAX_TAGS_PER_DEVICE);
    expect(() => retag(many, { add: [], remove: ['T0'] })).toThrowWithCode('INVALID_INPUT');
  });

  it('is a rollout target of its own, checked like any tag', () => {
    expect(rolloutTargetSchema.parse({ tag: 'site.berlin' })).toEqual({ tag: 'site.berlin' });
    expect(rolloutTargetSchema.safeParse({ tag: 'Site Berlin' }).success).toBe(false);
  });
});
