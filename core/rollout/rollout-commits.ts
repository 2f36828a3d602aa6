import type { DomainEvent } from '../domain-events.ts';

/** A device a rollout left on its revision: what a rollback after the rollout ended undoes. */
export interface RolloutCommit {
  deviceId: string;
  /** The id the device was commanded with (a retry's is `<rollout>-r<attempt>`): its rollback command names it. */
  commandId: string;
  /** The revision the rollout committed. */
  revision: string;
  /** The revision the device had committed before, by the log; absent when it had none. */
  previous?: string;
}

/** Where the next page of a rollout's commits starts: a position in the list as it was at `end`. */
export interface RolloutCommitsCursor {
  /** Stream sequence of the rollout's last event of its own when the list was made: the list is the one of then. */
  end: number;
  offset: number;
}

/** One page of a rollout's commits, by device id; `next` absent after the last. */
export interface RolloutCommitsPage {
  commits: RolloutCommit[];
  /** How many commits the whole list holds. */
  total: number;
  /** The list's `end` (0: the log does not know the rollout). */
  end: number;
  next?: RolloutCommitsCursor;
}

/** Retries of a device run as `<rollout>-r<attempt>` (workflows/rollout.ts). */
const RETRY_SUFFIX = /^(.+)-r\d+$/;

interface UpdateData {
  rolloutId: string;
  rollout?: string;
  revision: string;
  errorCode?: string;
}

function updateDataOf(data: unknown): UpdateData | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const { rolloutId, rollout, revision, error } = data as Record<string, unknown>;
  if (typeof rolloutId !== 'string' || typeof revision !== 'string') return undefined;
  return {
    rolloutId,
    revision,
    ...(typeof rollout === 'string' ? { rollout } : {}),
    ...(typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
      ? { errorCode: error.code }
      : {}),
  };
}

/**
 * Folds device events, oldest first (the whole device log up to the
 * rollout's end), into the devices the rollout left on its revision, with
 * the revision each had committed before. A device the rollout committed
 * that then rolled back or failed in the same rollout is not one of them.
 */
export class RolloutCommits {
  readonly #rolloutId: string;
  /** Each device's last committed revision: a commit, or a rollback by command (it names where it went). */
  readonly #committed = new Map<string, string>();
  readonly #left = new Map<string, RolloutCommit>();

  constructor(rolloutId: string) {
    this.#rolloutId = rolloutId;
  }

  add(event: DomainEvent): void {
    if (event.aggregate !== 'device' || !event.type.startsWith('device.update.')) return;
    const data = updateDataOf(event.data);
    if (!data) return;
    const deviceId = event.aggregateId;
    const rollout = data.rollout ?? RETRY_SUFFIX.exec(data.rolloutId)?.[1] ?? data.rolloutId;
    if (rollout === this.#rolloutId) {
      if (event.type === 'device.update.committed') {
        const previous = this.#committed.get(deviceId);
        this.#left.set(deviceId, {
          deviceId,
          commandId: data.rolloutId,
          revision: data.revision,
          ...(previous === undefined ? {} : { previous }),
        });
      } else if (event.type === 'device.update.rolled_back' || event.type === 'device.update.failed') {
        this.#left.delete(deviceId);
      }
    }
    const byCommand = data.errorCode === 'ROLLED_BACK_BY_COMMAND';
    if (event.type === 'device.update.committed' || (event.type === 'device.update.rolled_back' && byCommand))
      this.#committed.set(deviceId, data.revision);
  }

  /** The devices, by id. */
  devices(): RolloutCommit[] {
    return [...this.#left.values()].sort((a, b) =>
      a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0,
    );
  }
}

/** {@link RolloutCommits} over a list of events. */
export function committedByRollout(rolloutId: string, events: Iterable<DomainEvent>): RolloutCommit[] {
  const commits = new RolloutCommits(rolloutId);
  for (const event of events) commits.add(event);
  return commits.devices();
}
