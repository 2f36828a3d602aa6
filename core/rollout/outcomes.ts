import { codeInfo, type FailureClass } from '../errors.ts';
import type { RolloutPolicy } from './policy.ts';

/** How a device update ended, as the rollout counts it (`pending`: the device was offline). */
export type DeviceOutcome = 'committed' | 'rolled_back' | 'failed' | 'skipped' | 'pending';

/** Why a device update failed, which decides what the rollout does (see {@link FailureClass}). */
export function classifyFailure(code: string): FailureClass {
  return codeInfo(code).class;
}

/** Counts of device outcomes so far. */
export interface OutcomeCounts {
  committed: number;
  rolledBack: number;
  failed: number;
}

export type GateVerdict = { pass: true } | { pass: false; reason: string; failureRate: number };

/** Failed or rolled-back devices by the class of their failure. */
export type FailuresByClass = Partial<Record<FailureClass, number>>;

/**
 * The gate between waves: once at least `minSample` devices have finished,
 * the share that failed or rolled back may not exceed `maxFailureRate`, nor
 * the share of each failure class its limit in `maxRateByClass`.
 */
export function evaluateGate(
  counts: OutcomeCounts,
  gate: RolloutPolicy['gate'],
  byClass: FailuresByClass = {},
): GateVerdict {
  const finished = counts.committed + counts.rolledBack + counts.failed;
  if (finished === 0 || finished < gate.minSample) return { pass: true };
  const percent = (rate: number) => `${(100 * rate).toFixed(1)}%`;
  const failureRate = (counts.rolledBack + counts.failed) / finished;
  if (failureRate > gate.maxFailureRate)
    return {
      pass: false,
      failureRate,
      reason: `${counts.rolledBack + counts.failed} of ${finished} devices failed or rolled back (${percent(failureRate)}), over the ${percent(gate.maxFailureRate)} the policy allows`,
    };
  for (const [failureClass, limit] of Object.entries(gate.maxRateByClass ?? {})) {
    const failed = byClass[failureClass as FailureClass] ?? 0;
    if (limit === undefined || failed / finished <= limit) continue;
    return {
      pass: false,
      failureRate,
      reason: `${failed} of ${finished} devices failed with ${failureClass} failures (${percent(failed / finished)}), over the ${percent(limit)} the policy allows`,
    };
  }
  return { pass: true };
}
