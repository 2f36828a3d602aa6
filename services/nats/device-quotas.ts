import { z } from 'zod';

/**
 * What one device may use of the shared NATS, so that it cannot starve the
 * others (issue 17, finding 2). The per-connection limits travel in the
 * device's user JWT; the per-device history limits are the streams' own.
 */
export interface DeviceQuotas {
  /** Connections at once; past it the services revoke the device (nats-server 2.9 cannot count per user). */
  connections: number;
  /** Subscriptions on one connection (the agent holds a handful). */
  subscriptions: number;
  /** Bytes of one message, headers included (a signed report is at most 64 KiB). */
  payloadBytes: number;
  /** Telemetry messages kept per device; a new one replaces the device's oldest. */
  telemetryPerDevice: number;
  /** Signed reports kept per device; a new one replaces the device's oldest. */
  reportsPerDevice: number;
  /** Bytes the whole telemetry stream may hold: past it new messages are refused, none pushed out. */
  telemetryStreamBytes: number;
  /** Bytes the whole reports stream may hold, likewise. */
  reportsStreamBytes: number;
}

const GiB = 1024 ** 3;

/**
 * Defaults: one device holds at most 1,000 × 16 KiB of telemetry and
 * 100 × 64 KiB of reports (about 22 MiB), and the two device streams at
 * most 3 GiB of the server's 10 GiB store, leaving the event log its room.
 */
export const DEFAULT_DEVICE_QUOTAS: DeviceQuotas = {
  connections: 10,
  subscriptions: 64,
  payloadBytes: 128 * 1024,
  telemetryPerDevice: 1_000,
  reportsPerDevice: 100,
  telemetryStreamBytes: 2 * GiB,
  reportsStreamBytes: 1 * GiB,
};

const positive = z.int().positive();
/** Quotas as a configuration file names them: any left out keeps its default. */
export const deviceQuotasSchema = z
  .object({
    connections: positive.max(1_000_000),
    subscriptions: positive.max(1_000_000),
    payloadBytes: positive.min(1024).max(1024 * 1024),
    telemetryPerDevice: positive.max(1_000_000_000),
    reportsPerDevice: positive.max(1_000_000_000),
    telemetryStreamBytes: positive.min(1024 * 1024),
    reportsStreamBytes: positive.min(1024 * 1024),
  })
  .strict()
  .partial();

/** The quotas a configuration asks for, the defaults for what it leaves out. */
export function deviceQuotasOf(configured: z.infer<typeof deviceQuotasSchema> = {}): DeviceQuotas {
  const given = Object.entries(configured).filter(([, value]) => value !== undefined);
  return { ...DEFAULT_DEVICE_QUOTAS, ...Object.fromEntries(given) };
}
