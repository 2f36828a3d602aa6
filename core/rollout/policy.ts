import { z } from 'zod';
import { isValidTimezone, parseCron } from './maintenance-window.ts';
import { tagSchema } from '../device-tags.ts';

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 3600 * 1000;

/** When devices may update: occurrences start at the minutes `cron` matches and last `durationMs`. */
export const maintenanceWindowSchema = z.object({
  /** A 5-field cron expression (minute hour day-of-month month day-of-week) in `timezone`. */
  cron: z
    .string()
    .max(128)
    .superRefine((text, ctx) => {
      try {
        parseCron(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
      }
    }),
  durationMs: z
    .int()
    .min(MINUTE_MS)
    .max(7 * DAY_MS),
  /** IANA time zone of the cron; UTC when absent. A device's own time zone takes precedence. */
  timezone: z.string().max(64).refine(isValidTimezone, 'timezone is not a known IANA time zone').optional(),
});

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
        /**
         * Abort criteria by failure class: the highest share (0..1) of finished
         * devices that may fail with each class (e.g. `unhealthy: 0.05`), checked
         * with the same minimum sample.
         */
        maxRateByClass: z
          .object({
            unhealthy: z.number().min(0).max(1),
            transient: z.number().min(0).max(1),
            other: z.number().min(0).max(1),
          })
          .partial()
          .default({}),
        /** Time committed devices of a wave must stay healthy before the next wave starts. */
        soakMs: z
          .int()
          .min(0)
          .max(7 * DAY_MS)
          .default(0),
      })
      .prefault({}),
    /** A device another rollout holds: leave it out, or wait until it is free. */
    overlap: z.enum(['skip', 'wait']).default('skip'),
    /** What a breached gate does: wait for a person, stop, or stop and return every touched device. */
    onBreach: z.enum(['pause', 'abort', 'abort_and_rollback']).default('pause'),
    /**
     * When devices may start updating, in each device's own time zone (from
     * its heartbeats), else the window's: devices outside it wait for it.
     */
    maintenanceWindow: maintenanceWindowSchema.optional(),
    /**
     * A device that does not accept the command within `afterMs` is offline:
     * it does not count against the gate and is reported `pending`, or, with
     * `wait`, updated when its heartbeats show it back (checked every
     * `checkMs`, for at most `waitMs` after the last wave).
     */
    offline: z
      .object({
        action: z.enum(['pending', 'wait']).default('pending'),
        afterMs: z.int().min(1000).max(DAY_MS).default(120_000),
        waitMs: z
          .int()
          .min(0)
          .max(30 * DAY_MS)
          .default(7 * DAY_MS),
        checkMs: z.int().min(1000).max(DAY_MS).default(30_000),
      })
      .prefault({}),
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
 * Which devices a rollout is for: a list, or every device the Director knows
 * of a hardware id or carrying a tag (those two are dynamic: devices that join them while it runs get it too).
 */
export const rolloutTargetSchema = z.union([
  z.object({
    devices: z
      .array(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/))
      .min(1)
      .max(100_000),
  }),
  z.object({ hardwareId: z.string().min(1).max(128) }),
  z.object({ tag: tagSchema }),
]);
export type RolloutTarget = z.infer<typeof rolloutTargetSchema>;
