import type { RolloutCommitsCursor } from '../core/index.ts';
import type { RollbackCarried, RollbackDeviceResult, RollbackOutcome } from './contracts.ts';

/** Device results a rollback keeps to report; the rest are counted (their events say each one). */
export const LISTED_DEVICES = 100;

/**
 * A rollback's outcomes so far, small whatever the fleet: counts, and up to
 * {@link LISTED_DEVICES} device results, those not rolled back first (what
 * an operator looks at), so the state a run carries stays far under
 * Temporal's payload limit.
 */
export class RollbackTally {
  readonly counts: Record<RollbackOutcome, number>;
  readonly #listed: RollbackDeviceResult[];
  #unlisted: number;

  constructor(carried?: Pick<RollbackCarried, 'counts' | 'listed' | 'unlisted'>) {
    this.counts = { rolled_back: 0, unchanged: 0, busy: 0, failed: 0, ...carried?.counts };
    this.#listed = [...(carried?.listed ?? [])];
    this.#unlisted = carried?.unlisted ?? 0;
  }

  add(result: RollbackDeviceResult): void {
    this.counts[result.outcome] += 1;
    if (this.#listed.length < LISTED_DEVICES) {
      this.#listed.push(result);
      return;
    }
    const replaced = result.outcome === 'rolled_back' ? -1 : this.#listed.findIndex(isRolledBack);
    if (replaced !== -1) this.#listed[replaced] = result;
    this.#unlisted += 1;
  }

  /** The listed results, by device id. */
  listed(): RollbackDeviceResult[] {
    return [...this.#listed].sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  }

  /** Devices with an outcome that are not listed. */
  get unlisted(): number {
    return this.#unlisted;
  }

  carry(cursor: RolloutCommitsCursor): RollbackCarried {
    return { cursor, counts: { ...this.counts }, listed: this.listed(), unlisted: this.#unlisted };
  }
}

function isRolledBack(result: RollbackDeviceResult): boolean {
  return result.outcome === 'rolled_back';
}
