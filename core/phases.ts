// No zod here: workflow code imports this module.

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
export type DevicePhase = (typeof DEVICE_PHASES)[number];

/** The phases that end an update on the device. */
export const TERMINAL_PHASES: ReadonlySet<DevicePhase> = new Set(['committed', 'rolled_back', 'failed']);
