import type { CarriedRollout, DeviceOutcome, RolloutPolicy } from '../core/index.ts';
import { RolloutState } from '../core/rollout/rollout-state.ts';
import type { HandedOver } from './handed-over.ts';
import type { RolloutStatus } from './rollout-messages.ts';

/** What a run hands the next one: the compact state, and (once, from runs before paging) the plan. */
export interface CarriedRun {
  format: 2;
  state: CarriedRollout;
  /** The planned devices in wave order, from a run that held them in memory: stored once by the next run. */
  plan?: string[];
  /** Updates of the running wave that were in flight, for this run to follow to their end. */
  inFlight?: HandedOver[];
}

/** Carried by runs before the compact state (every device's record): still read, never written. */
export interface LegacyCarried {
  policy: RolloutPolicy;
  waves: string[][];
  nextWave: number;
  status: RolloutStatus;
  devices: Record<string, LegacyDeviceRecord>;
  offlineWaitSince?: number;
}

interface LegacyDeviceRecord {
  outcome: DeviceOutcome;
  reason?: { code: string; message: string };
  attempts: number;
  since?: number;
}

/** A committed device: the attempt that committed it and when (for a rollback and the soak). */
export interface CommittedDevice {
  attempts: number;
  since: number;
}

/**
 * The compact state of a run carried in the old format, with the plan and
 * the committed devices in the order that run recorded them.
 */
export function fromLegacy(carried: LegacyCarried): {
  state: RolloutState;
  plan: string[];
  committed: Record<string, CommittedDevice>;
} {
  const fresh = RolloutState.start(
    carried.policy,
    carried.waves.map((wave) => wave.length),
  ).carry();
  const state = RolloutState.resume({
    ...fresh,
    status: carried.status,
    nextWave: carried.nextWave,
    wave: { index: Math.max(0, carried.nextWave - 1), done: '', committed: '' },
    ...(carried.offlineWaitSince === undefined ? {} : { offlineWaitSince: carried.offlineWaitSince }),
  });
  const committed: Record<string, CommittedDevice> = {};
  for (const [deviceId, device] of Object.entries(carried.devices)) {
    state.record(deviceId, device, device.since ?? 0);
    if (device.outcome === 'committed')
      committed[deviceId] = { attempts: device.attempts, since: device.since ?? 0 };
  }
  return { state, plan: carried.waves.flat(), committed };
}

export function isLegacy(carried: CarriedRun | LegacyCarried): carried is LegacyCarried {
  return !('format' in carried);
}
