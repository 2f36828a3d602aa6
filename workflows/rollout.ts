import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  condition,
  continueAsNew,
  executeChild,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities/index.ts';
import type {
  DeviceOutcome,
  FailuresByClass,
  OutcomeCounts,
  RolloutEventType,
  RolloutPolicy,
  RolloutPolicyInput,
  RolloutTarget,
} from '../core/index.ts';
import { deviceUpdateWorkflowId } from '../core/identifiers.ts';
import { msUntilWindowOpen } from '../core/rollout/maintenance-window.ts';
import { classifyFailure, evaluateGate } from '../core/rollout/outcomes.ts';
import { planWaves } from '../core/rollout/waves.ts';
import type { DeviceUpdateInput, DeviceUpdateResult } from './device-update.ts';
import { rolledBackByCommand } from './rolled-back-by-command.ts';
import {
  abortRolloutUpdate,
  changeRolloutPolicyUpdate,
  rollbackRolloutUpdate,
  pauseRolloutUpdate,
  resumeRolloutUpdate,
  rolloutProgressQuery,
  type RolloutProgress,
  type RolloutStatus,
} from './rollout-messages.ts';

export interface RolloutInput {
  rolloutId: string;
  revision: string;
  target: RolloutTarget;
  policy?: RolloutPolicyInput;
  startedBy?: string;
  /** Carried over by continue-as-new; absent at the start. */
  carried?: CarriedState;
}

interface CarriedState {
  policy: RolloutPolicy;
  waves: string[][];
  nextWave: number;
  status: RolloutStatus;
  devices: Record<string, DeviceRecord>;
  /** When the rollout began waiting for offline devices to return (policy `offline.action: wait`). */
  offlineWaitSince?: number;
}

interface DeviceRecord {
  outcome: DeviceOutcome;
  reason?: { code: string; message: string };
  attempts: number;
  /** Pending devices: when the command found them offline; committed ones: when they committed. */
  since?: number;
}

export interface RolloutResult {
  rolloutId: string;
  status: RolloutStatus;
  counts: OutcomeCounts;
  /** Devices the rollout did not update: busy with another rollout, or not reached before an abort. */
  skipped: number;
}

/** Past this many history events the rollout continues as new after the running wave. */
const HISTORY_LIMIT = 8_000;

// Regular activities: the wave's device loops call them concurrently, which
// local activities do not replay reliably (their markers were matched out of order).
const {
  recordEvent,
  resolveTargets,
  acquireDevice,
  releaseDevice,
  rollbackDevice,
  devicePresence,
  parseRolloutPolicy,
} = proxyActivities<activities.UprollActivities>({
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: ['INVALID_INPUT'],
  },
});

/**
 * A staged rollout (`rollout/<id>`): the canary, then growing waves, each
 * device a `deviceUpdateWorkflow` child (the Director assigns the revision,
 * the device verifies and installs it), at most `maxInFlight` at once. Between
 * waves the gate checks the failure rate and, after the soak time, decides
 * to go on; a breach pauses or aborts by policy. Transient failures are
 * retried; a verification failure is never retried and pauses the rollout
 * with a security alert. Every state change is an event on the log.
 */
export async function rolloutWorkflow(input: RolloutInput): Promise<RolloutResult> {
  const { rolloutId, revision } = input;
  const state: CarriedState = input.carried ?? {
    policy: {} as RolloutPolicy, // parsed below, once the handlers are in place
    waves: [],
    nextWave: 0,
    status: 'running',
    devices: {},
  };
  const inFlight = new Set<string>();
  /** Devices of the running wave waiting for their maintenance window, by when it opens. */
  const deferred = new Map<string, number>();
  let eventCount = 0;
  const record = (type: RolloutEventType, data: Record<string, unknown> = {}) =>
    recordEvent(
      { aggregate: 'rollout', aggregateId: rolloutId, type, at: new Date().toISOString(), data },
      `${rolloutId}/${workflowInfo().runId}/${(eventCount += 1)}`,
    );

  setHandler(rolloutProgressQuery, () => progress(input, state, inFlight, deferred));
  setHandler(
    pauseRolloutUpdate,
    async (by) => {
      state.status = 'paused';
      await record('rollout.paused', { by });
      return progress(input, state, inFlight, deferred);
    },
    { validator: (_by: string) => requireStatus(state.status, ['running'], 'pause') },
  );
  setHandler(
    resumeRolloutUpdate,
    async (by) => {
      state.status = 'running';
      await record('rollout.resumed', { by });
      return progress(input, state, inFlight, deferred);
    },
    { validator: (_by: string) => requireStatus(state.status, ['paused'], 'resume') },
  );
  setHandler(
    abortRolloutUpdate,
    async (by) => {
      state.status = 'aborted';
      await record('rollout.aborted', { by, reason: 'aborted by command' });
      return progress(input, state, inFlight, deferred);
    },
    { validator: (_by: string) => requireStatus(state.status, ['running', 'paused'], 'abort') },
  );
  let rollbackRequested: string | undefined;
  setHandler(
    rollbackRolloutUpdate,
    async (by) => {
      rollbackRequested = by;
      state.status = 'aborted';
      await record('rollout.aborted', { by, reason: 'rollback by command' });
      return progress(input, state, inFlight, deferred);
    },
    {
      validator: (_by: string) =>
        requireStatus(state.status, ['running', 'paused', 'completed', 'aborted'], 'roll back'),
    },
  );
  setHandler(
    changeRolloutPolicyUpdate,
    async (change, by) => {
      const policy = await parseRolloutPolicy({ ...state.policy, ...change }).catch((err: unknown) => {
        const cause = err instanceof ActivityFailure ? err.cause : err;
        throw ApplicationFailure.nonRetryable(
          `invalid policy: ${cause instanceof Error ? cause.message : String(cause)}`,
          'INVALID_INPUT',
        );
      });
      state.policy = policy;
      await record('rollout.policy.changed', { by, policy: state.policy });
      return progress(input, state, inFlight, deferred);
    },
    {
      validator: (_change: Partial<RolloutPolicyInput>, _by: string) =>
        requireStatus(state.status, ['running', 'paused'], 'change the policy of'),
    },
  );

  if (!input.carried) {
    // Parsed by a local activity: zod stays out of the workflow sandbox, where
    // every workflow start (a rollout's thousands of children too) would build its schemas.
    state.policy = await parseRolloutPolicy(input.policy ?? {});
    state.waves = planWaves(await resolveTargets(input.target), state.policy);
    await record('rollout.started', {
      by: input.startedBy,
      revision,
      waves: state.waves.map((wave) => wave.length),
      policy: state.policy,
    });
  }

  while (state.nextWave < state.waves.length) {
    await condition(() => state.status !== 'paused');
    if (state.status === 'aborted') break;
    const index = state.nextWave;
    const wave = state.waves[index] ?? [];
    await record('rollout.wave.started', { wave: index, devices: wave.length });
    await runWave(wave);
    state.nextWave += 1;
    await record('rollout.wave.finished', { wave: index, counts: countOutcomes(state) });
    if (isAborted(state)) break;
    await addLateJoiners();
    if (
      Object.values(state.devices).some((d) => d.reason && classifyFailure(d.reason.code) === 'verification')
    )
      continue; // already paused with a security alert: the loop waits for a person
    if (state.policy.gate.soakMs > 0 && state.nextWave < state.waves.length) {
      await sleep(state.policy.gate.soakMs);
      await checkSoaked(state.waves[index] ?? []);
    }
    const verdict = evaluateGate(countOutcomes(state), state.policy.gate, failuresByClass(state));
    if (verdict.pass) {
      await record('rollout.gate.passed', { wave: index });
    } else {
      await record('rollout.gate.failed', {
        wave: index,
        reason: verdict.reason,
        failureRate: verdict.failureRate,
      });
      state.status = state.policy.onBreach === 'pause' ? 'paused' : 'aborted';
      if (state.policy.onBreach === 'abort_and_rollback') rollbackRequested = 'gate';
      await record(state.status === 'paused' ? 'rollout.paused' : 'rollout.aborted', {
        by: 'gate',
        reason: verdict.reason,
      });
    }
    if (workflowInfo().historyLength > HISTORY_LIMIT && state.nextWave < state.waves.length) {
      return continueAsNew<typeof rolloutWorkflow>({ ...input, carried: state });
    }
  }
  // A gate or security alert on the last wave pauses like on any other: a
  // person resumes (it completes), aborts or rolls back. Before this patch it ended as if aborted.
  if (state.status === 'paused' && patched('pause-after-last-wave'))
    await condition(() => state.status !== 'paused');
  if (state.status === 'running' && state.policy.offline.action === 'wait') {
    await updateReturningDevices();
    if (workflowInfo().historyLength > HISTORY_LIMIT && pendingDevices().length > 0 && !isAborted(state))
      return continueAsNew<typeof rolloutWorkflow>({ ...input, carried: state });
  }
  if (state.status === 'running') state.status = 'completed';
  if (rollbackRequested !== undefined) await rollBackDevices(rollbackRequested);
  const counts = countOutcomes(state);
  const skipped = countSkipped(state);
  await record(
    state.status === 'completed'
      ? 'rollout.completed'
      : state.status === 'rolled_back'
        ? 'rollout.rolled_back'
        : 'rollout.aborted',
    { counts, skipped },
  );
  return { rolloutId, status: state.status, counts, skipped };

  /** A target by hardware id or tag is dynamic: devices that joined it since the plan get the release too. */
  async function addLateJoiners(): Promise<void> {
    if ('devices' in input.target) return;
    const planned = new Set(state.waves.flat());
    const joined = (await resolveTargets(input.target)).filter((deviceId) => !planned.has(deviceId));
    if (joined.length === 0) return;
    state.waves.push(joined);
    await record('rollout.devices.joined', { devices: joined.length, wave: state.waves.length - 1 });
  }

  /** Returns every device this rollout committed to its last committed revision before it. */
  async function rollBackDevices(by: string): Promise<void> {
    for (const [deviceId, device] of Object.entries(state.devices)) {
      if (device.outcome !== 'committed') continue;
      if (!(await acquireDevice(deviceId, rolloutId))) continue; // another rollout owns it now
      try {
        // The device knows the update by the id it was commanded with (a retry's differs).
        const reply = await rollbackDevice(deviceId, attemptId(rolloutId, device.attempts));
        if (reply.rolledBack) {
          const event = rolledBackByCommand(deviceId, rolloutId, reply.revision, by);
          state.devices[deviceId] = {
            outcome: 'rolled_back',
            attempts: device.attempts,
            reason: event.data.error,
          };
          await recordEvent(event, `${rolloutId}/rollback/${deviceId}`);
        }
      } catch (err) {
        state.devices[deviceId] = { ...device, reason: failureOf(err) };
      } finally {
        await releaseDevice(deviceId, rolloutId);
      }
    }
    state.status = 'rolled_back';
  }

  /**
   * After the soak time: a device of the wave that committed but whose
   * heartbeats since then say it runs another revision (it rolled back, or crashed
   * back) counts as rolled back, against the gate.
   */
  async function checkSoaked(wave: readonly string[]): Promise<void> {
    const committed = wave.filter((deviceId) => state.devices[deviceId]?.outcome === 'committed');
    if (committed.length === 0) return;
    const seen = await devicePresence(committed);
    // Only heartbeats sent after the commit tell: an older one still names the revision before.
    const regressed = committed.filter((deviceId) => {
      const heard = seen[deviceId];
      const committedAt = state.devices[deviceId]?.since ?? 0;
      return (
        heard?.revision !== undefined &&
        Date.parse(heard.lastSeenAt) > committedAt &&
        heard.revision !== revision
      );
    });
    for (const deviceId of regressed) {
      state.devices[deviceId] = {
        outcome: 'rolled_back',
        attempts: state.devices[deviceId]?.attempts ?? 1,
        reason: {
          code: 'UNHEALTHY_AFTER_COMMIT',
          message: `runs ${seen[deviceId]?.revision ?? 'nothing'} at the end of the soak, not ${revision}`,
        },
      };
    }
    if (regressed.length > 0) await record('rollout.soak.regressed', { devices: regressed });
  }

  function pendingDevices(): string[] {
    return Object.entries(state.devices)
      .filter(([, device]) => device.outcome === 'pending')
      .map(([deviceId]) => deviceId);
  }

  /**
   * Policy `offline: wait`: after the last wave, devices that were offline
   * are updated as their heartbeats show them back, until none is left or
   * `waitMs` has passed (they stay pending then). Stops early to continue as new.
   */
  async function updateReturningDevices(): Promise<void> {
    const { waitMs, checkMs } = state.policy.offline;
    if (pendingDevices().length === 0) return;
    if (state.offlineWaitSince === undefined) {
      state.offlineWaitSince = Date.now();
      await record('rollout.offline.waiting', { devices: pendingDevices().length, waitMs });
    }
    while (!isAborted(state) && Date.now() - state.offlineWaitSince < waitMs) {
      const pending = pendingDevices();
      if (pending.length === 0 || workflowInfo().historyLength > HISTORY_LIMIT) return;
      const seen = await devicePresence(pending);
      const back = pending.filter((deviceId) => {
        const lastSeen = seen[deviceId]?.lastSeenAt;
        return lastSeen !== undefined && Date.parse(lastSeen) > (state.devices[deviceId]?.since ?? 0);
      });
      if (back.length > 0) {
        for (const deviceId of back) delete state.devices[deviceId];
        await record('rollout.offline.returned', { devices: back.length });
        await runWave(back);
      } else {
        await condition(() => isAborted(state), checkMs);
      }
    }
  }

  /**
   * Policy `maintenanceWindow`: the devices of a wave whose window (in their
   * own time zone, when their heartbeats report one) is closed wait for it;
   * the rest go first.
   */
  async function deferOutsideWindow(queue: string[]): Promise<void> {
    const window = state.policy.maintenanceWindow;
    if (!window || queue.length === 0) return;
    const seen = await devicePresence(queue);
    const now = Date.now();
    for (const deviceId of [...queue]) {
      const wait = msUntilWindowOpen(window, new Date(now), seen[deviceId]?.timezone);
      if (wait > 0) deferred.set(deviceId, now + wait);
    }
    if (deferred.size === 0) return;
    queue.splice(0, queue.length, ...queue.filter((deviceId) => !deferred.has(deviceId)));
    const opens = Math.min(...deferred.values());
    await record('rollout.devices.deferred', {
      devices: deferred.size,
      firstWindowOpensAt: new Date(opens).toISOString(),
    });
  }

  /** The next device of the wave to update: one whose window is open, waiting for one when none is. */
  async function nextDevice(queue: string[]): Promise<string | undefined> {
    for (;;) {
      const ready = queue.shift();
      if (ready !== undefined || deferred.size === 0) return ready;
      const opens = Math.min(...deferred.values());
      if (opens > Date.now()) await condition(() => isAborted(state), opens - Date.now());
      for (const [deviceId, at] of deferred) {
        if (at <= Date.now() || isAborted(state)) {
          deferred.delete(deviceId);
          queue.push(deviceId);
        }
      }
    }
  }

  /** Updates the devices of a wave, at most `maxInFlight` at once; returns when each has an outcome. */
  async function runWave(devices: readonly string[]): Promise<void> {
    const queue = devices.filter((deviceId) => !state.devices[deviceId]);
    const total = queue.length;
    await deferOutsideWindow(queue);
    const workers = Array.from({ length: Math.min(state.policy.maxInFlight, total) }, async () => {
      for (let deviceId = await nextDevice(queue); deviceId; deviceId = await nextDevice(queue)) {
        await condition(() => state.status !== 'paused');
        if (isAborted(state)) {
          state.devices[deviceId] = { outcome: 'skipped', attempts: 0 };
          continue;
        }
        inFlight.add(deviceId);
        const outcome = await updateDevice(deviceId);
        state.devices[deviceId] =
          outcome.outcome === 'committed' ? { ...outcome, since: Date.now() } : outcome;
        inFlight.delete(deviceId);
      }
    });
    await Promise.all(workers);
  }

  /**
   * One device, held for this rollout alone while it updates (its update
   * takes the lease): a device another rollout holds is skipped, or asked
   * for again every few seconds, by policy.
   */
  async function updateDevice(deviceId: string): Promise<DeviceRecord> {
    for (;;) {
      const result = await updateHeldDevice(deviceId);
      if (result.outcome !== 'busy') return result;
      if (state.policy.overlap === 'skip' || isAborted(state))
        return {
          outcome: 'skipped',
          attempts: 0,
          reason: { code: 'DEVICE_BUSY', message: 'another rollout holds it' },
        };
      await sleep('5 seconds');
    }
  }

  /** Retried on transient failures with backoff; a verification failure pauses the rollout. */
  async function updateHeldDevice(deviceId: string): Promise<DeviceRecord | { outcome: 'busy' }> {
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
        const failureClass = classifyFailure(reason.code);
        if (failureClass === 'offline')
          return { outcome: 'pending', reason, attempts: attempt, since: Date.now() };
        if (failureClass === 'transient' && attempt <= state.policy.retries.transient) {
          await sleep(state.policy.retries.backoffMs * 2 ** (attempt - 1));
          continue;
        }
        if (failureClass === 'verification' && state.status === 'running') {
          state.status = 'paused';
          await record('rollout.security.alert', { deviceId, error: reason });
          await record('rollout.paused', { by: 'security', reason: `${deviceId}: ${reason.code}` });
        }
        return { outcome: 'failed', reason, attempts: attempt };
      }
    }
  }
}

/** The rollout id a device update attempt is commanded with: retries run as `<rollout>-r<attempt>`. */
function attemptId(rolloutId: string, attempt: number): string {
  return attempt <= 1 ? rolloutId : `${rolloutId}-r${attempt}`;
}

function failureOf(err: unknown): { code: string; message: string } {
  const cause = err instanceof ChildWorkflowFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure)
    return { code: cause.type ?? 'INSTALL_FAILED', message: cause.message };
  return { code: 'INSTALL_FAILED', message: err instanceof Error ? err.message : String(err) };
}

function countOutcomes(state: CarriedState): OutcomeCounts {
  const counts = { committed: 0, rolledBack: 0, failed: 0 };
  for (const device of Object.values(state.devices)) {
    if (device.outcome === 'committed') counts.committed += 1;
    else if (device.outcome === 'rolled_back') counts.rolledBack += 1;
    else if (device.outcome === 'failed') counts.failed += 1;
  }
  return counts;
}

function countSkipped(state: CarriedState): number {
  return Object.values(state.devices).filter((device) => device.outcome === 'skipped').length;
}

function failuresByClass(state: CarriedState): FailuresByClass {
  const byClass: FailuresByClass = {};
  for (const device of Object.values(state.devices)) {
    if ((device.outcome !== 'failed' && device.outcome !== 'rolled_back') || !device.reason) continue;
    const failureClass = classifyFailure(device.reason.code);
    byClass[failureClass] = (byClass[failureClass] ?? 0) + 1;
  }
  return byClass;
}

/** Read through a function: Updates change the status while the workflow awaits. */
function isAborted(state: CarriedState): boolean {
  return state.status === 'aborted';
}

function requireStatus(status: RolloutStatus, allowed: readonly RolloutStatus[], action: string): void {
  if (!allowed.includes(status)) throw new Error(`cannot ${action} a rollout that is ${status}`);
}

function progress(
  input: RolloutInput,
  state: CarriedState,
  inFlight: ReadonlySet<string>,
  deferred: ReadonlyMap<string, number>,
): RolloutProgress {
  const devices = Object.entries(state.devices);
  return {
    rolloutId: input.rolloutId,
    revision: input.revision,
    status: state.status,
    policy: state.policy,
    waves: state.waves.map((wave, index) => ({
      index,
      size: wave.length,
      state:
        index < state.nextWave
          ? 'finished'
          : index === state.nextWave && inFlight.size > 0
            ? 'running'
            : 'pending',
    })),
    counts: {
      ...countOutcomes(state),
      pending: devices.filter(([, device]) => device.outcome === 'pending').length,
      skipped: countSkipped(state),
      waitingForWindow: deferred.size,
      inFlight: inFlight.size,
      total: state.waves.flat().length,
    },
    failures: devices
      .filter(([, device]) => device.outcome !== 'committed' && device.reason)
      .map(([deviceId, device]) => ({ deviceId, outcome: device.outcome, reason: device.reason! })),
  };
}
