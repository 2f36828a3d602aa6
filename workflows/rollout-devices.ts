import {
  ApplicationFailure,
  ChildWorkflowFailure,
  condition,
  executeChild,
  proxyActivities,
  sleep,
} from '@temporalio/workflow';
import type * as activities from '../activities/index.ts';
import type { DeviceResult, RolloutEventType, RolloutState } from '../core/index.ts';
import { afterFailure, windowOpensAt } from '../core/rollout/device-policy.ts';
import { deviceUpdateWorkflowId } from '../core/identifiers.ts';
import type { DeviceUpdateInput, DeviceUpdateResult } from './device-update.ts';

const { devicePresence } = proxyActivities<activities.UprollActivities>({
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: ['INVALID_INPUT'],
  },
});

/** A device to update and, in a wave, its position there (what the state's cursor marks done). */
export interface QueuedDevice {
  deviceId: string;
  position?: number;
}

/** What the device runner shares with the workflow. */
export interface DeviceRunner {
  rolloutId: string;
  revision: string;
  state: RolloutState;
  record(type: RolloutEventType, data?: Record<string, unknown>): Promise<void>;
  /** True once the run should take no more devices, to continue as new. */
  draining(): boolean;
  inFlight: Set<string>;
  /** Devices this run has started updating: a run drains only once it has made progress. */
  started: number;
  /** Devices waiting for their maintenance window, by when it opens. */
  deferred: Map<string, number>;
  /** A committed device and the attempt that committed it (older histories roll back from this). */
  onCommitted?(deviceId: string, attempts: number): void;
}

/**
 * Updates devices read page by page (`pages` returns undefined when there
 * are no more), at most `maxInFlight` at once; returns once each device taken
 * has an outcome. A device not taken (the run drains to continue as new) stays
 * not done, for the next run.
 */
export async function runDevices(
  run: DeviceRunner,
  count: number,
  pages: () => Promise<QueuedDevice[] | undefined>,
): Promise<void> {
  const { state, deferred } = run;
  const queue: QueuedDevice[] = [];
  const waiting = new Map<string, QueuedDevice>();
  let more = true;
  const load = async () => {
    const page = await pages();
    if (page === undefined) more = false;
    else queue.push(...(await deferOutsideWindow(page)));
  };
  /** Puts the page's devices whose window is closed aside; returns the rest. */
  const deferOutsideWindow = async (page: QueuedDevice[]): Promise<QueuedDevice[]> => {
    const window = state.policy.maintenanceWindow;
    if (!window || page.length === 0) return page;
    const seen = await devicePresence(page.map(({ deviceId }) => deviceId));
    const now = Date.now();
    const ready = page.filter((device) => {
      const opens = windowOpensAt(window, now, seen[device.deviceId]?.timezone);
      if (opens === undefined) return true;
      deferred.set(device.deviceId, opens);
      waiting.set(device.deviceId, device);
      return false;
    });
    if (ready.length < page.length)
      await run.record('rollout.devices.deferred', {
        devices: deferred.size,
        firstWindowOpensAt: new Date(Math.min(...deferred.values())).toISOString(),
      });
    return ready;
  };
  let loading: Promise<void> | undefined;
  /** The next device whose window is open, waiting for one when none is; undefined when none is left. */
  const next = async (): Promise<QueuedDevice | undefined> => {
    for (;;) {
      if (run.draining()) return undefined;
      const ready = queue.shift();
      if (ready !== undefined) return ready;
      if (more) {
        await (loading ??= load().finally(() => (loading = undefined)));
        continue;
      }
      if (deferred.size === 0) return undefined;
      const opens = Math.min(...deferred.values());
      if (opens > Date.now()) await condition(() => state.isAborted || run.draining(), opens - Date.now());
      if (run.draining()) return undefined;
      for (const [deviceId, at] of deferred) {
        if (at <= Date.now() || state.isAborted) {
          deferred.delete(deviceId);
          queue.push(waiting.get(deviceId) ?? { deviceId });
          waiting.delete(deviceId);
        }
      }
    }
  };

  await load(); // the first page before the workers start, as before paging
  const workers = Array.from({ length: Math.min(state.policy.maxInFlight, count) }, async () => {
    for (let device = await next(); device; device = await next()) {
      await condition(() => state.status !== 'paused' || run.draining());
      if (state.status === 'paused') return; // drained while paused: the next run takes it
      const { deviceId, position } = device;
      if (state.isAborted) {
        state.record(deviceId, { outcome: 'skipped', attempts: 0 }, Date.now(), position);
        continue;
      }
      run.inFlight.add(deviceId);
      run.started += 1;
      const result = await updateDevice(run, deviceId);
      run.inFlight.delete(deviceId);
      if (!result) continue; // drained while waiting for another rollout to let it go
      state.record(deviceId, result, Date.now(), position);
      if (result.outcome === 'committed') run.onCommitted?.(deviceId, result.attempts);
    }
  });
  await Promise.all(workers);
  deferred.clear();
}

/**
 * One device, held for this rollout alone while it updates (its update
 * takes the lease): a device another rollout holds is skipped, or asked
 * for again every few seconds, by policy; undefined when the run drains meanwhile.
 */
async function updateDevice(run: DeviceRunner, deviceId: string): Promise<DeviceResult | undefined> {
  for (;;) {
    const result = await updateHeldDevice(run, deviceId);
    if (result.outcome !== 'busy') return result;
    if (run.state.policy.overlap === 'skip' || run.state.isAborted)
      return {
        outcome: 'skipped',
        attempts: 0,
        reason: { code: 'DEVICE_BUSY', message: 'another rollout holds it' },
      };
    if (run.draining()) return undefined;
    await sleep('5 seconds');
  }
}

/** Retried on transient failures with backoff; a verification failure pauses the rollout. */
async function updateHeldDevice(
  run: DeviceRunner,
  deviceId: string,
): Promise<DeviceResult | { outcome: 'busy' }> {
  const { rolloutId, revision, state } = run;
  for (let attempt = 1; ; attempt++) {
    const childRollout = attemptId(rolloutId, attempt);
    try {
      const result = await executeChild<(input: DeviceUpdateInput) => Promise<DeviceUpdateResult>>(
        'deviceUpdateWorkflow',
        {
          workflowId: deviceUpdateWorkflowId(deviceId, childRollout),
          args: [
            {
              deviceId,
              command: { rolloutId: childRollout, revision },
              rollout: rolloutId,
              holdFor: rolloutId,
              phaseTimeouts: { command: state.policy.offline.afterMs },
            },
          ],
        },
      );
      if (result.outcome === 'busy') return { outcome: 'busy' };
      return {
        outcome: result.outcome,
        attempts: attempt,
        ...(result.reason ? { reason: result.reason } : {}),
      };
    } catch (err) {
      const reason = failureOf(err);
      const step = afterFailure(state.policy, reason.code, attempt);
      if (step.action === 'pending') return { outcome: 'pending', reason, attempts: attempt };
      if (step.action === 'retry') {
        await sleep(step.backoffMs);
        continue;
      }
      if (step.security && state.raiseSecurityAlert()) {
        await run.record('rollout.security.alert', { deviceId, error: reason });
        await run.record('rollout.paused', { by: 'security', reason: `${deviceId}: ${reason.code}` });
      }
      return { outcome: 'failed', reason, attempts: attempt };
    }
  }
}

/** The rollout id a device update attempt is commanded with: retries run as `<rollout>-r<attempt>`. */
export function attemptId(rolloutId: string, attempt: number): string {
  return attempt <= 1 ? rolloutId : `${rolloutId}-r${attempt}`;
}

export function failureOf(err: unknown): { code: string; message: string } {
  const cause = err instanceof ChildWorkflowFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure)
    return { code: cause.type ?? 'INSTALL_FAILED', message: cause.message };
  return { code: 'INSTALL_FAILED', message: err instanceof Error ? err.message : String(err) };
}
