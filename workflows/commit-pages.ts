import type { RolloutCommit, RolloutCommitsCursor, RolloutCommitsPage } from '../core/index.ts';

/** Commits read at once: a few hundred bytes each, far under Temporal's 2 MB payload limit. */
export const COMMITS_PAGE_SIZE = 200;

/** A rollout's commits, page after page, by `read` (the `rolloutCommitsPage` activity). */
export async function* commitsInPages(
  read: (cursor: RolloutCommitsCursor | null, limit: number) => Promise<RolloutCommitsPage>,
): AsyncGenerator<RolloutCommit> {
  let cursor: RolloutCommitsCursor | null = null;
  do {
    const page: RolloutCommitsPage = await read(cursor, COMMITS_PAGE_SIZE);
    yield* page.commits;
    cursor = page.next ?? null;
  } while (cursor);
}
