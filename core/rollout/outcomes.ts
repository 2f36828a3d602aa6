import { TRUST_ATTACK_CODES, type UprollErrorCode } from '../errors.ts';
import type { RolloutPolicy } from './policy.ts';

/** How a device update ended, as the rollout counts it (`pending`: the device was offline). */
export type DeviceOutcome = 'committed' | 'rolled_back' | 'failed' | 'skipped' | 'pending';

/**
 * Why a device update failed, which decides what the rollout does:
 * transient failures are retried, verification failures are never retried
 * (they pause the rollout and raise a security event), offline devices
 * are pending (they count for nothing), the rest count against the gate.
 */
export type FailureClass = 'transient' | 'verification' | 'unhealthy' | 'offline' | 'other';

const TRANSIENT = new Set([
  'DOWNLOAD_FAILED',
  'DEVICE_UNREACHABLE',
  'PHASE_TIMEOUT',
  'SLOW_RETRIEVAL',
  'DEVICE_BUSY',
]);
const UNHEALTHY = new Set([
  'HEALTH_CHECK_FAILED',
  'BOOT_ATTEMPTS_EXCEEDED',
  'BOOT_FAILED',
  'UNHEALTHY_AFTER_COMMIT',
]);

export function classifyFailure(code: string): FailureClass {
  if (code === 'DEVICE_OFFLINE') return 'offline';
  if (TRANSIENT.has(code)) return 'transient';
  if (TRUST_ATTACK_CODES.has(code as UprollErrorCode)) return 'verification';
  if (UNHEALTHY.has(code)) return 'unhealthy';
  return 'other';
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
