import {
  ApplicationFailure,
  ChildWorkflowFailure,
  condition,
  executeChild,
  ParentClosePolicy,
  proxyActivities,
  proxyLocalActivities,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities/index.ts';
import type { DeviceResult, ErrorInfo, RolloutEventType, RolloutState } from '../core/index.ts';
import { afterFailure, deviceUpdateWorkflowId, windowOpensAt } from '../core/models.ts';
import type { DeviceUpdateInput, DeviceUpdateResult, HandedOver, UpdateEnd } from './contracts.ts';
import type { UpdateEnds } from './handed-over.ts';

// Starting a device update's workflow: transient trouble (Temporal busy) is retried soon.
const { startFollowedUpdate } = proxyLocalActivities<activities.UprollActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

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
  /** From the run before: where its update stood. */
  handedOver?: HandedOver;
}

/** A device being updated: the attempt it is at, and whether that attempt's child is starting or running. */
interface InFlight extends HandedOver {
  starting: boolean;
}

/** What the device runner shares with the workflow. */
export interface DeviceRunner {
  rolloutId: string;
  revision: string;
  state: RolloutState;
  record(type: RolloutEventType, data?: Record<string, unknown>): Promise<void>;
  /** True once the run should take no more devices, to continue as new. */
  draining(): boolean;
  inFlight: Map<string, InFlight>;
  /**
   * Whether a run that continues as new inside a wave hands the updates it
   * has in flight to the next run (their children run on), rather than
   * waiting for each to end first.
   */
  handsOver: boolean;
  /**
   * Whether device updates start as workflows of their own (not children),
   * their ends learnt through `ends`: a run then continues as new with nothing
   * that can reach it unasked.
   */
  follows: boolean;
  /** The ends of updates this run follows (handed over, or with `follows` all), learnt for all at once. */
  ends: UpdateEnds;
  /** Devices this run has started updating: a run drains only once it has made progress. */
  started: number;
  /** Devices waiting for their maintenance window, by when it opens. */
  deferred: Map<string, number>;
  /** A committed device and the attempt that committed it (older histories roll back from this). */
  onCommitted?(deviceId: string, attempts: number): void;
}

/**
 * Updates devices read page by page (`pages` returns undefined when there
 * are no more), at most `maxInFlight` at once, those `handedOver` by the run
 * before first; returns once each device taken has an outcome. A device not
 * taken (the run drains to continue as new) stays not done, for the next run.
 * With `handOver` (and `run.handsOver`), a draining run returns false at
 * once, its devices still updating (`run.inFlight`, for the next run to
 * follow: {@link handOverInFlight}); else it waits for them.
 */
export async function runDevices(
  run: DeviceRunner,
  count: number,
  pages: () => Promise<QueuedDevice[] | undefined>,
  options: { handedOver?: readonly HandedOver[]; handOver?: boolean } = {},
): Promise<boolean> {
  const { state, deferred } = run;
  const handedOver = options.handedOver ?? [];
  const queue: QueuedDevice[] = handedOver.map((device) => ({
    deviceId: device.deviceId,
    ...(device.position === undefined ? {} : { position: device.position }),
    handedOver: device,
  }));
  // Asked for in one loop, so that one activity follows them all from the start.
  const handedOverEnds = new Map(
    handedOver.flatMap(({ deviceId, running }) =>
      running ? [[deviceId, run.ends.wait(running)] as const] : [],
    ),
  );
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
      const { deviceId, position, handedOver: from } = device;
      if (!from) {
        await condition(() => state.status !== 'paused' || run.draining());
        if (state.status === 'paused') return; // drained while paused: the next run takes it
      }
      if (state.isAborted && !from?.running) {
        state.record(deviceId, { outcome: 'skipped', attempts: 0 }, Date.now(), position);
        continue;
      }
      const entry: InFlight = {
        deviceId,
        ...(position === undefined ? {} : { position }),
        attempt: from?.attempt ?? 1,
        ...(from?.running ? { running: from.running } : {}), // handed on again if this run continues as new too
        starting: false,
      };
      run.inFlight.set(deviceId, entry);
      if (!from) run.started += 1;
      const result = await updateDevice(run, entry, handedOverEnds.get(deviceId));
      run.inFlight.delete(deviceId);
      if (!result) continue; // drained while waiting for another rollout to let it go
      state.record(deviceId, result, Date.now(), position);
      if (result.outcome === 'committed') run.onCommitted?.(deviceId, result.attempts);
    }
  });
  let finished = false;
  const all = Promise.all(workers).then(() => void (finished = true));
  if (options.handOver && run.handsOver) {
    await Promise.race([all, condition(() => finished || run.draining())]);
    if (!finished) return false;
  } else {
    await all;
  }
  deferred.clear();
  return true;
}

/** True while a child is being started: the next run could not tell whether it exists. */
export function childStarting(run: DeviceRunner): boolean {
  return [...run.inFlight.values()].some((device) => device.starting);
}

/** The devices updating now, as the next run takes them over (never while {@link childStarting}). */
export function handOverInFlight(run: DeviceRunner): HandedOver[] {
  return [...run.inFlight.values()].map(({ deviceId, position, attempt, running }) => ({
    deviceId,
    ...(position === undefined ? {} : { position }),
    attempt,
    ...(running ? { running } : {}),
  }));
}

/**
 * One device, held for this rollout alone while it updates (its update
 * takes the lease): a device another rollout holds is skipped, or asked
 * for again every few seconds, by policy; undefined when the run drains meanwhile.
 * `handedOverEnd`: the end of the attempt a run before started.
 */
async function updateDevice(
  run: DeviceRunner,
  device: InFlight,
  handedOverEnd?: Promise<UpdateEnd>,
): Promise<DeviceResult | undefined> {
  for (let ended = handedOverEnd; ; ended = undefined) {
    const result = await updateHeldDevice(run, device, ended);
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

/**
 * Retried on transient failures with backoff (`device.attempt` is the one
 * under way, or next after a backoff); a verification failure pauses the rollout.
 */
async function updateHeldDevice(
  run: DeviceRunner,
  device: InFlight,
  handedOverEnd?: Promise<UpdateEnd>,
): Promise<DeviceResult | { outcome: 'busy' }> {
  const { state } = run;
  const { deviceId } = device;
  for (let ended = handedOverEnd; ; ended = undefined) {
    const attempt = device.attempt;
    const end = await (ended ?? runChild(run, device));
    if ('result' in end) {
      const { result } = end;
      if (result.outcome === 'busy') return { outcome: 'busy' };
      return {
        outcome: result.outcome,
        attempts: attempt,
        ...(result.reason ? { reason: result.reason } : {}),
      };
    }
    const reason = end.failure;
    const step = afterFailure(state.policy, reason.code, attempt);
    if (step.action === 'pending') return { outcome: 'pending', reason, attempts: attempt };
    if (step.action === 'retry') {
      device.attempt = attempt + 1; // handed over during the backoff, the next run starts that one
      delete device.running;
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

/**
 * The device's update at its current attempt: with `run.follows`, a
 * workflow of its own whose end `run.ends` learns; before, a child, which a
 * run that hands over starts with parent close policy ABANDON. Either runs
 * on when the run continues as new, for the next run to follow.
 */
async function runChild(run: DeviceRunner, device: InFlight): Promise<UpdateEnd> {
  const { rolloutId, revision, state } = run;
  const childRollout = attemptId(rolloutId, device.attempt);
  const workflowId = deviceUpdateWorkflowId(device.deviceId, childRollout);
  const input: DeviceUpdateInput = {
    deviceId: device.deviceId,
    command: { rolloutId: childRollout, revision },
    rollout: rolloutId,
    holdFor: rolloutId,
    phaseTimeouts: { command: state.policy.offline.afterMs },
  };
  type DeviceUpdate = (input: DeviceUpdateInput) => Promise<DeviceUpdateResult>;
  try {
    if (!run.handsOver)
      return {
        workflowId,
        result: await executeChild<DeviceUpdate>('deviceUpdateWorkflow', { workflowId, args: [input] }),
      };
    device.starting = true;
    delete device.running; // a `busy` end of this attempt before
    if (run.follows) {
      const started = await startFollowedUpdate(input, workflowInfo().taskQueue).catch((err: unknown) => {
        device.starting = false;
        throw err;
      });
      // In one step, as below.
      device.starting = false;
      device.running = started;
      return await run.ends.wait(started);
    }
    const child = await startChild<DeviceUpdate>('deviceUpdateWorkflow', {
      workflowId,
      args: [input],
      parentClosePolicy: ParentClosePolicy.ABANDON,
    }).catch((err: unknown) => {
      device.starting = false;
      throw err;
    });
    // In one step: a run handing over in between would hand it over as not started.
    device.starting = false;
    device.running = { workflowId, runId: child.firstExecutionRunId };
    // Kept once it ended: a run handing over before the worker took the end in, the next run reads it.
    return { workflowId, result: await child.result() };
  } catch (err) {
    return { workflowId, failure: failureOf(err) };
  }
}

/** The rollout id a device update attempt is commanded with: retries run as `<rollout>-r<attempt>`. */
export function attemptId(rolloutId: string, attempt: number): string {
  return attempt <= 1 ? rolloutId : `${rolloutId}-r${attempt}`;
}

export function failureOf(err: unknown): ErrorInfo {
  const cause = err instanceof ChildWorkflowFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure)
    return { code: cause.type ?? 'INSTALL_FAILED', message: cause.message };
  return { code: 'INSTALL_FAILED', message: err instanceof Error ? err.message : String(err) };
}
