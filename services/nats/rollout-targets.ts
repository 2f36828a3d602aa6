import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { assertToken, UprollError } from '../../core/index.ts';
import { openBucket, type BucketSpec } from './buckets.ts';

/** KV bucket: each rollout's devices as planned, in pages, so the workflow never carries the list. */
export const ROLLOUT_TARGETS_BUCKET = 'UPROLL_ROLLOUT_TARGETS';

export const ROLLOUT_TARGETS_BUCKET_SPEC: BucketSpec = {
  name: ROLLOUT_TARGETS_BUCKET,
  description: "Uproll rollouts' devices in wave order, in pages",
};

/** Ids per KV entry: 64-character ids keep a page far under NATS' 1 MB message limit. */
const PAGE_SIZE = 2000;

interface Meta {
  total: number;
}

/**
 * The devices of a rollout in the order its waves take them, written once at
 * its start (and grown by devices that join a dynamic target), read in pages.
 * A rollout's waves are offsets into this list, so a device that joins its tag
 * while it runs cannot shift the waves still to come.
 */
export class RolloutTargets {
  readonly #nc: NatsConnection;
  #bucket: Promise<KV> | undefined;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
  }

  /** Stores `devices` as the rollout's list unless it has one; returns the list's length. Idempotent. */
  async snapshot(rolloutId: string, devices: () => Promise<readonly string[]>): Promise<number> {
    const kv = await this.#open();
    const meta = await this.#meta(kv, rolloutId);
    if (meta) return meta.total;
    const ids = await devices();
    await this.#write(kv, rolloutId, 0, ids);
    return ids.length;
  }

  /** Up to `limit` devices from `offset`. */
  async page(rolloutId: string, offset: number, limit: number): Promise<string[]> {
    const kv = await this.#open();
    const meta = await this.#meta(kv, rolloutId);
    if (!meta) throw new UprollError('INVALID_INPUT', `rollout ${rolloutId} has no stored target`);
    const end = Math.min(meta.total, offset + limit);
    const found: string[] = [];
    for (let page = Math.floor(offset / PAGE_SIZE); page * PAGE_SIZE < end; page++) {
      const ids = await this.#page(kv, rolloutId, page);
      const from = page * PAGE_SIZE;
      found.push(...ids.slice(Math.max(0, offset - from), end - from));
    }
    return found;
  }

  /** Appends the devices of `current` not in the list yet; returns how many, and where they start. */
  async extend(rolloutId: string, current: readonly string[]): Promise<{ offset: number; count: number }> {
    const kv = await this.#open();
    const total = (await this.#meta(kv, rolloutId))?.total ?? 0;
    const known = new Set(await this.page(rolloutId, 0, total));
    const joined = current.filter((deviceId) => !known.has(deviceId));
    if (joined.length > 0) await this.#write(kv, rolloutId, total, joined);
    return { offset: total, count: joined.length };
  }

  /** Pages first, the length last: a retry after a partial write writes the same pages again. */
  async #write(kv: KV, rolloutId: string, offset: number, ids: readonly string[]): Promise<void> {
    const first = Math.floor(offset / PAGE_SIZE);
    const kept = first * PAGE_SIZE < offset ? await this.#page(kv, rolloutId, first) : [];
    const all = [...kept.slice(0, offset - first * PAGE_SIZE), ...ids];
    for (let i = 0; i * PAGE_SIZE < all.length; i++)
      await kv.put(
        `${key(rolloutId)}.p${first + i}`,
        JSON.stringify(all.slice(i * PAGE_SIZE, (i + 1) * PAGE_SIZE)),
      );
    await kv.put(`${key(rolloutId)}.meta`, JSON.stringify({ total: offset + ids.length } satisfies Meta));
  }

  async #meta(kv: KV, rolloutId: string): Promise<Meta | undefined> {
    const entry = await kv.get(`${key(rolloutId)}.meta`);
    return entry?.operation === 'PUT' ? entry.json<Meta>() : undefined;
  }

  async #page(kv: KV, rolloutId: string, page: number): Promise<string[]> {
    const entry = await kv.get(`${key(rolloutId)}.p${page}`);
    return entry?.operation === 'PUT' ? entry.json<string[]>() : [];
  }

  #open(): Promise<KV> {
    this.#bucket ??= openBucket(this.#nc, ROLLOUT_TARGETS_BUCKET_SPEC);
    this.#bucket.catch(() => (this.#bucket = undefined)); // a failed open is tried again next time
    return this.#bucket;
  }
}

function key(rolloutId: string): string {
  return `r.${assertToken(rolloutId, 'rollout id')}`;
}
