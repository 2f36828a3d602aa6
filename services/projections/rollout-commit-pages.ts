import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  assertToken,
  UprollError,
  type RolloutCommit,
  type RolloutCommitsCursor,
  type RolloutCommitsPage,
} from '../../core/index.ts';
import { openBucket, type BucketSpec } from '../nats/index.ts';
import { readRolloutCommitsUpTo, rolloutEnd } from './rollout-commits.ts';

/** KV bucket: each rollout's commits as of its end, in pages, so a rollback reads the device log once. */
export const ROLLOUT_COMMITS_BUCKET = 'UPROLL_ROLLOUT_COMMITS';

export const ROLLOUT_COMMITS_BUCKET_SPEC: BucketSpec = {
  name: ROLLOUT_COMMITS_BUCKET,
  description: "Uproll rollouts' commits as of their end, in pages, for rollbacks",
};

/** Commits per KV entry: a commit is a few hundred bytes, a page far under NATS' 1 MB message limit. */
const STORED_PAGE = 1000;

/** The most commits one page may ask for: far under Temporal's 2 MB payload limit. */
export const MAX_COMMITS_PAGE = 1000;

interface Meta {
  total: number;
}

/**
 * A rollout's commits (what a rollback undoes) in pages. The first page
 * (no cursor) folds the whole device log up to the rollout's end once and
 * stores the list under that end; the pages after read the stored list, so
 * a rollback of 100,000 devices scans the log once, not once per page, and
 * every page comes from the same list even if the rollout records more.
 */
export class RolloutCommitPages {
  readonly #nc: NatsConnection;
  #bucket: Promise<KV> | undefined;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
  }

  /** Up to `limit` commits from `cursor` (absent: from the start, as of now). */
  async page(
    rolloutId: string,
    cursor: RolloutCommitsCursor | null,
    limit: number,
  ): Promise<RolloutCommitsPage> {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_COMMITS_PAGE)
      throw new UprollError('INVALID_INPUT', `a page of commits is 1 to ${MAX_COMMITS_PAGE}, not ${limit}`);
    const end = cursor?.end ?? (await rolloutEnd(this.#nc, rolloutId));
    if (end === undefined) return { commits: [], total: 0, end: 0 };
    const kv = await this.#open();
    const prefix = `${key(rolloutId)}.e${end}`;
    const meta = cursor ? await this.#meta(kv, prefix) : await this.#snapshot(kv, prefix, rolloutId, end);
    if (!meta)
      throw new UprollError('INVALID_INPUT', `rollout ${rolloutId} has no stored commits as of ${end}`);
    const offset = cursor?.offset ?? 0;
    const stop = Math.min(meta.total, offset + limit);
    const commits: RolloutCommit[] = [];
    for (let page = Math.floor(offset / STORED_PAGE); page * STORED_PAGE < stop; page++) {
      const from = page * STORED_PAGE;
      const stored = await kv.get(`${prefix}.p${page}`);
      const all = stored?.operation === 'PUT' ? stored.json<RolloutCommit[]>() : [];
      commits.push(...all.slice(Math.max(0, offset - from), stop - from));
    }
    return { commits, total: meta.total, end, ...(stop < meta.total ? { next: { end, offset: stop } } : {}) };
  }

  /** The list as of `end`, stored unless it is: pages first, the length last, so a retry writes the same again. */
  async #snapshot(kv: KV, prefix: string, rolloutId: string, end: number): Promise<Meta> {
    const known = await this.#meta(kv, prefix);
    if (known) return known;
    const commits = await readRolloutCommitsUpTo(this.#nc, rolloutId, end);
    for (let page = 0; page * STORED_PAGE < commits.length; page++)
      await kv.put(
        `${prefix}.p${page}`,
        JSON.stringify(commits.slice(page * STORED_PAGE, (page + 1) * STORED_PAGE)),
      );
    const meta: Meta = { total: commits.length };
    await kv.put(`${prefix}.meta`, JSON.stringify(meta));
    return meta;
  }

  async #meta(kv: KV, prefix: string): Promise<Meta | undefined> {
    const entry = await kv.get(`${prefix}.meta`);
    return entry?.operation === 'PUT' ? entry.json<Meta>() : undefined;
  }

  #open(): Promise<KV> {
    this.#bucket ??= openBucket(this.#nc, ROLLOUT_COMMITS_BUCKET_SPEC);
    this.#bucket.catch(() => (this.#bucket = undefined)); // a failed open is tried again next time
    return this.#bucket;
  }
}

function key(rolloutId: string): string {
  return `r.${assertToken(rolloutId, 'rollout id')}`;
}
