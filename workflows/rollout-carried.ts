import { RolloutState } from '../core/models.ts';
import type { CarriedRun, LegacyCarried } from './contracts.ts';

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
