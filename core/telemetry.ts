import { z } from 'zod';
import { MAX_APPS } from './apps.ts';
import { deviceIdSchema, rolloutIdSchema } from './identifier-schemas.ts';
import { DEVICE_PHASES } from './phases.ts';

/** Byte cap on one telemetry message as it arrives from a device. */
export const MAX_TELEMETRY_BYTES = 16 * 1024;

export const devicePhaseSchema = z.enum(DEVICE_PHASES);

/** `uproll.dev.<device>.telemetry`: one step of an update as the device saw it. */
export const telemetrySchema = z.object({
  deviceId: deviceIdSchema,
  rolloutId: rolloutIdSchema,
  revision: z.string().min(1).max(128),
  phase: devicePhaseSchema,
  at: z.iso.datetime(),
  /** The installer's name of the deployment the device runs after this step (`a`/`b`, an OSTree commit). */
  deployment: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,128}$/)
    .optional(),
  bytes: z.int().min(0).optional(),
  error: z.object({ code: z.string().max(64), message: z.string().max(2048) }).optional(),
});
export type Telemetry = z.infer<typeof telemetrySchema>;

/** Progress of the download step of the running update. */
export const downloadProgressSchema = z.object({
  rolloutId: rolloutIdSchema,
  received: z.int().min(0),
  total: z.int().min(0),
  percent: z.number().min(0).max(100),
});
export type DownloadProgress = z.infer<typeof downloadProgressSchema>;

/** Apps one heartbeat may list: as many as a revision holds, which keeps it under {@link MAX_TELEMETRY_BYTES}. */
export const MAX_HEARTBEAT_APPS = MAX_APPS;

/**
 * What an app's container is doing: `restarting` means it stopped and its
 * restart policy starts it again; `unhealthy` that it runs but misses its
 * health goal; `missing` that the runtime has no such container.
 */
export const HEARTBEAT_APP_STATES = [
  'running',
  'starting',
  'restarting',
  'unhealthy',
  'exited',
  'missing',
] as const;

/** One app as a heartbeat shows it (device-reported: every string bounded). */
export const heartbeatAppSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
  container: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/),
  state: z.enum(HEARTBEAT_APP_STATES),
  exitCode: z.int().min(-1024).max(1024).nullable(),
  restarts: z.int().min(0).max(1_000_000_000),
  /** When its container was created (runc's time, nanoseconds and all). */
  startedAt: z.iso.datetime({ offset: true }).nullable(),
});
export type HeartbeatApp = z.infer<typeof heartbeatAppSchema>;

/** `uproll.dev.<device>.heartbeat`: the device is alive, what it runs, what it is doing. */
export const heartbeatSchema = z.object({
  deviceId: deviceIdSchema,
  at: z.iso.datetime(),
  revision: z.string().max(128).nullable(),
  trial: z.boolean(),
  running: z.string().max(128).nullable(),
  progress: downloadProgressSchema.optional(),
  /** The agent found its boot environment damaged at this start and recreated it (every heartbeat of the run says so). */
  bootEnvRepaired: z.object({ at: z.iso.datetime(), message: z.string().max(1024) }).optional(),
  /** The device's IANA time zone, for maintenance windows in local time. */
  timezone: z
    .string()
    .regex(/^[A-Za-z0-9_+/-]{1,64}$/)
    .optional(),
  /** Each app the device should run and the state of its container. */
  apps: z.array(heartbeatAppSchema).max(MAX_HEARTBEAT_APPS).optional(),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;

/** What the server knows of a device from its heartbeats. */
export interface DevicePresence {
  lastSeenAt: string;
  /** The revision its last heartbeat said it runs. */
  revision?: string | null;
  timezone?: string;
  /** Its apps as its last heartbeat showed them (read only when asked for: rollouts do not need them). */
  apps?: HeartbeatApp[];
}
