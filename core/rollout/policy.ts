import { z } from 'zod';

/** How a rollout grows, when it stops, and what it does then. */
export const rolloutPolicySchema = z
  .object({
    /** Devices in the first wave, the canary. */
    canary: z.int().min(1).max(10_000).default(1),
    /** After the canary: cumulative percentages of the target, or an exponential ramp of wave sizes. */
    waves: z
      .union([
        z.object({ percentages: z.array(z.number().gt(0).max(100)).min(1).max(100) }),
        z.object({
          exponential: z.object({
            base: z.int().min(1),
            factor: z.number().min(1.1).max(100),
            cap: z.int().min(1),
          }),
        }),
      ])
      .default({ percentages: [10, 50, 100] }),
    /** Devices updating at the same time, at most. */
    maxInFlight: z.int().min(1).max(10_000).default(50),
    /** Checked after each wave, over every device the rollout has finished so far. */
    gate: z
      .object({
        /** Finished devices needed before the failure rate may stop the rollout. */
        minSample: z.int().min(0).default(1),
        /** Highest share of failed or rolled-back devices (0..1) the rollout tolerates. */
        maxFailureRate: z.number().min(0).max(1).default(0.1),
        /** Time committed devices of a wave must stay healthy before the next wave starts. */
        soakMs: z
          .int()
          .min(0)
          .max(7 * 24 * 3600 * 1000)
          .default(0),
      })
      .prefault({}),
    /** A device another rollout holds: leave it out, or wait until it is free. */
    overlap: z.enum(['skip', 'wait']).default('skip'),
    /** What a breached gate does: wait for a person, stop, or stop and return every touched device. */
    onBreach: z.enum(['pause', 'abort', 'abort_and_rollback']).default('pause'),
    /** Attempts of a device update that failed transiently (download, timeout, unreachable). */
    retries: z
      .object({
        transient: z.int().min(0).max(10).default(2),
        backoffMs: z.int().min(0).max(3_600_000).default(5000),
      })
      .prefault({}),
  })
  .refine(
    (policy) => !('percentages' in policy.waves) || isAscending(policy.waves.percentages),
    'wave percentages must grow',
  );
export type RolloutPolicy = z.infer<typeof rolloutPolicySchema>;
export type RolloutPolicyInput = z.input<typeof rolloutPolicySchema>;

function isAscending(values: readonly number[]): boolean {
  return values.every((value, i) => i === 0 || value > (values[i - 1] ?? 0));
}

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

/** Which devices a rollout is for: a list, or every device of a hardware id the Director knows. */
export const rolloutTargetSchema = z.union([
  z.object({
    devices: z
      .array(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/))
      .min(1)
      .max(100_000),
  }),
  z.object({ hardwareId: z.string().min(1).max(128) }),
]);
export type RolloutTarget = z.infer<typeof rolloutTargetSchema>;
