// No zod here: workflow code imports this module.
import type { RolloutPolicy } from './policy.ts';

/**
 * The waves of a rollout over `devices` (in the order given): the canary,
 * then waves that grow by the policy until every device is in one.
 */
export function planWaves(devices: readonly string[], policy: RolloutPolicy): string[][] {
  const sizes: number[] = [];
  let planned = Math.min(policy.canary, devices.length);
  if (planned > 0) sizes.push(planned);
  if ('percentages' in policy.waves) {
    for (const percentage of policy.waves.percentages) {
      const upTo = Math.min(devices.length, Math.ceil((percentage / 100) * devices.length));
      if (upTo > planned) {
        sizes.push(upTo - planned);
        planned = upTo;
      }
    }
  } else {
    const { base, factor, cap } = policy.waves.exponential;
    for (let size = base; planned < devices.length; size = Math.min(cap, Math.ceil(size * factor))) {
      const next = Math.min(size, cap, devices.length - planned);
      sizes.push(next);
      planned += next;
    }
  }
  if (planned < devices.length) sizes.push(devices.length - planned); // percentages that stop short of 100
  const waves: string[][] = [];
  let start = 0;
  for (const size of sizes) {
    waves.push(devices.slice(start, start + size));
    start += size;
  }
  return waves;
}
