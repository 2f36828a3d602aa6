import type { RolloutView, RolloutViewStatus } from './views.ts';

/** One row of `rollout list`: what an operator asks of each rollout. */
export interface RolloutListRow {
  rolloutId: string;
  status: RolloutViewStatus;
  revision: string | null;
  startedBy: string | null;
  startedAt: string | null;
  committed: number;
  rolledBack: number;
  failed: number;
  /** Known once the rollout ended (only its end reports it). */
  skipped: number | null;
}

/**
 * The rollouts as rows, newest start first (ties by id), optionally of one
 * status. An ended rollout's counts are those it reported at its end; a
 * running one's are those its device events show so far.
 */
export function rolloutListRows(views: readonly RolloutView[], status?: RolloutViewStatus): RolloutListRow[] {
  return views
    .filter((view) => status === undefined || view.status === status)
    .sort(
      (a, b) =>
        (b.startedAt ?? '').localeCompare(a.startedAt ?? '') || a.rolloutId.localeCompare(b.rolloutId),
    )
    .map((view) => {
      const counts = (view.endedAt !== undefined ? view.reportedCounts : undefined) ?? view.counts;
      return {
        rolloutId: view.rolloutId,
        status: view.status,
        revision: view.revision ?? null,
        startedBy: view.startedBy ?? null,
        startedAt: view.startedAt ?? null,
        committed: counts.committed,
        rolledBack: counts.rolledBack,
        failed: counts.failed,
        skipped: view.skipped ?? null,
      };
    });
}
