// No zod here: workflow code imports this module.
import type { RolloutPolicy } from './policy.ts';

/**
 * The waves of a rollout over `devices` (in the order given): the canary,
 * then waves that grow by the policy until every device is in one.
 */
export function planWaves(devices: readonly string[], policy: RolloutPolicy): string[][] {
  const waves: string[][] = [];
  let start = 0;
  for (const size of planWaveSizes(devices.length, policy)) {
    waves.push(devices.slice(start, start + size));
    start += size;
  }
  return waves;
}

/** The sizes of the waves of a rollout over `total` devices: what {@link planWaves} cuts the list into. */
export function planWaveSizes(total: number, policy: RolloutPolicy): number[] {
  const sizes: number[] = [];
  let planned = Math.min(policy.canary, total);
  if (planned > 0) sizes.push(planned);
  if ('percentages' in policy.waves) {
    for (const percentage of policy.waves.percentages) {
      const upTo = Math.min(total, Math.ceil((percentage / 100) * total));
      if (upTo > planned) {
        sizes.push(upTo - planned);
        planned = upTo;
      }
    }
  } else {
    const { base, factor, cap } = policy.waves.exponential;
    for (let size = base; planned < total; size = Math.min(cap, Math.ceil(size * factor))) {
      const next = Math.min(size, cap, total - planned);
      sizes.push(next);
      planned += next;
    }
  }
  if (planned < total) sizes.push(total - planned); // percentages that stop short of 100
  return sizes;
}
