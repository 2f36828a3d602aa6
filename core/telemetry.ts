import { z } from 'zod';
import { deviceIdSchema, rolloutIdSchema } from './identifiers.ts';

/** Byte cap on one telemetry message as it arrives from a device. */
export const MAX_TELEMETRY_BYTES = 16 * 1024;

/**
 * Phases a device reports while it applies an update, in order: objects
 * downloaded, their hashes verified, installed and switched to, the new
 * revision booted and healthy, then committed (or rolled back, or failed).
 */
export const DEVICE_PHASES = [
  'downloaded',
  'verified',
  'installed',
  'healthy',
  'committed',
  'rolled_back',
  'failed',
] as const;
export const devicePhaseSchema = z.enum(DEVICE_PHASES);
export type DevicePhase = z.infer<typeof devicePhaseSchema>;

/** The phases that end an update on the device. */
export const TERMINAL_PHASES: ReadonlySet<DevicePhase> = new Set(['committed', 'rolled_back', 'failed']);

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

/** `uproll.dev.<device>.heartbeat`: the device is alive, what it runs, what it is doing. */
export const heartbeatSchema = z.object({
  deviceId: deviceIdSchema,
  at: z.iso.datetime(),
  revision: z.string().max(128).nullable(),
  trial: z.boolean(),
  running: z.string().max(128).nullable(),
  progress: downloadProgressSchema.optional(),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;
