import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities/index.ts';
import type { OutcomeCounts, RolloutEventType, RolloutPolicy, RolloutPolicyInput } from '../core/index.ts';
import { isBack, planWaveSizes, progressOf, RolloutState, runsAnotherRevision } from '../core/models.ts';
import { commitsInPages } from './commit-pages.ts';
import { rolledBackByCommand } from './rolled-back-by-command.ts';
import { fromLegacy, isLegacy, type CommittedDevice } from './rollout-carried.ts';
import { UpdateEnds } from './handed-over.ts';
import {
  attemptId,
  childStarting,
  failureOf,
  handOverInFlight,
  runDevices,
  type DeviceRunner,
  type QueuedDevice,
} from './rollout-devices.ts';
import {
  abortRolloutUpdate,
  changeRolloutPolicyUpdate,
  pauseRolloutUpdate,
  resumeRolloutUpdate,
  rollbackRolloutUpdate,
  rolloutProgressQuery,
  type CarriedRun,
  type HandedOver,
  type RolloutInput,
  type RolloutResult,
} from './contracts.ts';
import { refuseUnlessAccepted } from './refuse-unless-accepted.ts';

/** Runs before paging continued as new past this many events, between waves; now a fallback to Temporal's suggestion. */
const HISTORY_LIMIT = 8_000;
/** Devices read from the stored target at once. */
const PAGE_SIZE = 500;

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
  snapshotTarget,
  targetPage,
  extendTarget,
  rolloutCommits,
  rolloutCommitsPage,
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
 * device a `deviceUpdateWorkflow` it starts and follows (the Director
 * assigns the revision, the device verifies and installs it), at most
 * `maxInFlight` at once. Between
 * waves the gate checks the failure rate and, after the soak time, decides
 * to go on; a breach pauses or aborts by policy. Transient failures are
 * retried; a verification failure is never retried and pauses the rollout
 * with a security alert. Every state change is an event on the log. The
 * state is a {@link RolloutState}; this function wires handlers and awaits.
 * It continues as new when Temporal suggests it, inside a wave too, with
 * counts and a cursor; the devices are read in pages from the stored target.
 */
export async function rolloutWorkflow(input: RolloutInput): Promise<RolloutResult> {
  const { rolloutId, revision } = input;
  // Runs before this patch held the whole target in memory (`plan`) and read no pages.
  const paged = patched('rollout-target-pages');
  // Runs before this patch waited for every device in flight before they continued as new.
  const handsOver = paged && patched('hand-over-in-flight');
  // Runs before this patch started each device update as a child: children ending while a run
  // continued as new failed its task (unhandled command), and each retry replayed the whole history.
  const follows = handsOver && patched('follow-updates-not-children');
  let state = RolloutState.start({} as RolloutPolicy, []); // planned below, once the handlers are in place
  let plan: string[] | undefined;
  /** Runs before paging only: the committed devices, in the order they committed (rollbacks go in it). */
  let committed: Record<string, CommittedDevice> | undefined;
  const inFlight: DeviceRunner['inFlight'] = new Map();
  /** Updates the last run had in flight when it continued as new inside the wave. */
  let handedOver: HandedOver[] = [];
  const deferred = new Map<string, number>();
  let eventCount = 0;
  const record = async (type: RolloutEventType, data: Record<string, unknown> = {}) =>
    recordEvent(
      { aggregate: 'rollout', aggregateId: rolloutId, type, at: new Date().toISOString(), data },
      `${rolloutId}/${workflowInfo().runId}/${(eventCount += 1)}`,
    );
  const progress = () =>
    progressOf({ rolloutId, revision }, state, { inFlight: inFlight.size, waitingForWindow: deferred.size });
  /** An Update's handler: the transition (guarded by the state), its event, the progress after. */
  const apply = async (transition: () => void, type: RolloutEventType, data: Record<string, unknown>) => {
    transition();
    await record(type, data);
    return progress();
  };

  setHandler(rolloutProgressQuery, progress);
  setHandler(pauseRolloutUpdate, (by) => apply(() => state.pause(), 'rollout.paused', { by }), {
    validator: (_by: string) => refuseUnlessAccepted(state, 'pause'),
  });
  setHandler(resumeRolloutUpdate, (by) => apply(() => state.resume(), 'rollout.resumed', { by }), {
    validator: (_by: string) => refuseUnlessAccepted(state, 'resume'),
  });
  setHandler(
    abortRolloutUpdate,
    (by) => apply(() => state.abort(), 'rollout.aborted', { by, reason: 'aborted by command' }),
    { validator: (_by: string) => refuseUnlessAccepted(state, 'abort') },
  );
  setHandler(
    rollbackRolloutUpdate,
    (by) => apply(() => state.requestRollback(by), 'rollout.aborted', { by, reason: 'rollback by command' }),
    { validator: (_by: string) => refuseUnlessAccepted(state, 'rollback') },
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
      state.changePolicy(policy);
      await record('rollout.policy.changed', { by, policy: state.policy });
      return progress();
    },
    {
      validator: (_change: Partial<RolloutPolicyInput>, _by: string) =>
        refuseUnlessAccepted(state, 'changePolicy'),
    },
  );

  const carried = input.carried;
  if (!carried) {
    // Parsed by an activity: zod stays out of the workflow sandbox, where
    // every workflow start (a rollout's thousands of children too) would build its schemas.
    const policy = await parseRolloutPolicy(input.policy ?? {});
    if (paged) {
      state.plan(policy, planWaveSizes(await snapshotTarget(rolloutId, input.target), policy));
    } else {
      plan = await resolveTargets(input.target);
      committed = {};
      state.plan(policy, planWaveSizes(plan.length, policy));
    }
    await record('rollout.started', { by: input.startedBy, revision, waves: state.waves, policy });
  } else if (isLegacy(carried)) {
    ({ state, plan, committed } = fromLegacy(carried));
  } else {
    state = RolloutState.resume(carried.state);
    plan = carried.plan;
    handedOver = carried.inFlight ?? [];
    if (plan) committed = {};
  }
  if (paged && plan) {
    // Handed over by a run from before paging: stored now, then read in pages like any other.
    await snapshotTarget(rolloutId, input.target, plan);
    plan = undefined;
    committed = undefined;
  }

  const runner: DeviceRunner = {
    rolloutId,
    revision,
    state,
    record,
    // Never before a device has started: a run that cannot finish one would continue as new forever.
    draining: () => paged && runner.started > 0 && continueAsNewDue(),
    inFlight,
    handsOver,
    follows,
    ends: new UpdateEnds({ byPolling: follows }),
    started: 0,
    deferred,
    onCommitted: (deviceId, attempts) => {
      if (committed) committed[deviceId] = { attempts, since: Date.now() };
    },
  };

  while (state.nextWave < state.waves.length) {
    // Updates handed over are followed to their end, paused or aborted.
    if (handedOver.length === 0) {
      await condition(() => state.status !== 'paused');
      if (state.isAborted) break;
    }
    const index = state.nextWave;
    if (!(await runWave())) return continueAsNewNow(); // drained inside the wave
    state.finishWave(Date.now());
    await record('rollout.wave.finished', { wave: index, counts: outcomeCounts() });
    if (state.isAborted) break;
    await addLateJoiners();
    if (state.securityAlert) continue; // paused with a security alert: the loop waits for a person
    if (state.soakDue) {
      // An abort (or a rollback) during the soak ends it: before this patch it waited the soak out.
      if (patched('abort-ends-soak')) await condition(() => state.isAborted, state.policy.gate.soakMs);
      else await sleep(state.policy.gate.soakMs);
      // An abort during the soak stands: the gate may not turn it into a pause.
      if (state.isAborted && patched('abort-outlasts-soak')) break;
      await checkSoaked();
    }
    const verdict = state.gate();
    if (verdict.pass) {
      await record('rollout.gate.passed', { wave: index });
    } else {
      await record('rollout.gate.failed', {
        wave: index,
        reason: verdict.reason,
        failureRate: verdict.failureRate,
      });
      const breach = state.breach();
      await record(breach.status === 'paused' ? 'rollout.paused' : 'rollout.aborted', {
        by: 'gate',
        reason: verdict.reason,
      });
    }
    if (state.nextWave < state.waves.length && (paged ? continueAsNewDue() : historyPastLimit()))
      return continueAsNewNow();
  }
  // A gate or security alert on the last wave pauses like on any other: a
  // person resumes (it completes), aborts or rolls back. Before this patch it ended as if aborted.
  if (state.status === 'paused' && patched('pause-after-last-wave'))
    await condition(() => state.status !== 'paused');
  if (state.status === 'running' && state.policy.offline.action === 'wait') {
    await updateReturningDevices();
    if (
      (paged ? continueAsNewDue() : historyPastLimit()) &&
      state.pendingDevices().length > 0 &&
      !state.isAborted
    )
      return continueAsNewNow();
  }
  state.complete();
  // A rollback accepted while the rollout ends (even as it completes) is carried out before it does.
  const handlersFirst = patched('handlers-finish-before-end');
  for (;;) {
    const by = state.rollbackDue;
    if (by !== undefined) await rollBackDevices(by);
    if (!handlersFirst || allHandlersFinished()) break;
    await condition(allHandlersFinished);
  }
  if (handlersFirst) state.close(); // from here the result is fixed: commands are refused
  const counts = outcomeCounts();
  const { skipped } = state.counts;
  const status = state.status;
  await record(
    status === 'completed'
      ? 'rollout.completed'
      : status === 'rolled_back'
        ? 'rollout.rolled_back'
        : 'rollout.aborted',
    { counts, skipped },
  );
  return { rolloutId, status, counts, skipped };

  function outcomeCounts(): OutcomeCounts {
    const { committed: done, rolledBack, failed } = state.counts;
    return { committed: done, rolledBack, failed };
  }

  /** Temporal suggests it (the history grows large), or the history passed the old bound. */
  function continueAsNewDue(): boolean {
    return workflowInfo().continueAsNewSuggested || historyPastLimit();
  }

  function historyPastLimit(): boolean {
    return workflowInfo().historyLength > (input.historyLimit ?? HISTORY_LIMIT);
  }

  /** Once the running Update handlers have finished: the next run starts from the state they left. */
  async function continueAsNewNow(): Promise<never> {
    if (!allHandlersFinished() && patched('handlers-finish-before-continue-as-new'))
      await condition(allHandlersFinished);
    if (handsOver) await condition(() => allHandlersFinished() && !childStarting(runner));
    // Nothing left to reach this run unasked: no question about the ends under way, no timer to pace the next.
    if (follows) await runner.ends.stop();
    // Taken now: the devices' loops went on while the handlers finished.
    const inFlightNow = handsOver ? handOverInFlight(runner) : [];
    const next: CarriedRun = {
      format: 2,
      state: state.carry(),
      ...(plan ? { plan } : {}),
      ...(inFlightNow.length > 0 ? { inFlight: inFlightNow } : {}),
    };
    const target = paged && 'devices' in input.target ? { devices: [] } : input.target;
    return continueAsNew<typeof rolloutWorkflow>({ ...input, target, carried: next });
  }

  /** Devices of the target from `offset`: from memory in runs before paging, else a page of the stored list. */
  async function devicesAt(offset: number, limit: number): Promise<string[]> {
    return plan ? plan.slice(offset, offset + limit) : targetPage(rolloutId, offset, limit);
  }

  /** The running wave, page by page; false when the run drained before every device had an outcome. */
  async function runWave(): Promise<boolean> {
    const { index, offset, size, resumed } = state.startWave();
    if (!resumed) await record('rollout.wave.started', { wave: index, devices: size });
    const pageSize = plan ? Math.max(1, size) : PAGE_SIZE;
    let from = 0;
    const followed = new Set(handedOver.map(({ position }) => position));
    const seeds = handedOver;
    handedOver = [];
    const finished = await runDevices(
      runner,
      state.undoneInWave(),
      async () => {
        if (from >= size) return undefined;
        const start = from;
        from += pageSize;
        const ids = await devicesAt(offset + start, Math.min(pageSize, size - start));
        return ids
          .map((deviceId, i): QueuedDevice => ({ deviceId, position: start + i }))
          .filter(({ position }) => !state.isDone(position!) && !followed.has(position));
      },
      { handedOver: seeds, handOver: true },
    );
    return finished && (state.undoneInWave() === 0 || state.isAborted);
  }

  /** A target by hardware id or tag is dynamic: devices that joined it since the plan get the release too. */
  async function addLateJoiners(): Promise<void> {
    if ('devices' in input.target) return;
    let joined: number;
    if (plan) {
      const planned = new Set(plan);
      const ids = (await resolveTargets(input.target)).filter((deviceId) => !planned.has(deviceId));
      plan.push(...ids);
      joined = ids.length;
    } else {
      joined = (await extendTarget(rolloutId, input.target)).count;
    }
    if (joined === 0) return;
    state.addWave(joined);
    await record('rollout.devices.joined', { devices: joined, wave: state.waves.length - 1 });
  }

  /** Returns every device this rollout committed to its last committed revision before it. */
  async function rollBackDevices(by: string): Promise<void> {
    const devices = committed
      ? Object.entries(committed).map(([deviceId, device]) => ({
          deviceId,
          commandId: attemptId(rolloutId, device.attempts),
        }))
      : patched('rollback-commit-pages')
        ? commitsInPages((cursor, limit) => rolloutCommitsPage(rolloutId, cursor, limit))
        : await rolloutCommits(rolloutId);
    for await (const { deviceId, commandId } of devices) {
      if (!(await acquireDevice(deviceId, rolloutId))) continue; // another rollout owns it now
      try {
        // The device knows the update by the id it was commanded with (a retry's differs).
        const reply = await rollbackDevice(deviceId, commandId);
        if (reply.rolledBack) {
          const event = rolledBackByCommand(deviceId, rolloutId, reply.revision, by);
          state.revoke(deviceId, event.data.error);
          if (committed) delete committed[deviceId];
          await recordEvent(event, `${rolloutId}/rollback/${deviceId}`);
        }
      } catch (err) {
        void failureOf(err); // the device stays committed: the rollback after the end may reach it
      } finally {
        await releaseDevice(deviceId, rolloutId);
      }
    }
    state.rolledBack();
  }

  /**
   * After the soak time: a device of the wave that committed but whose
   * heartbeats since then say it runs another revision (it rolled back, or crashed
   * back) counts as rolled back, against the gate.
   */
  async function checkSoaked(): Promise<void> {
    const { index, positions, finishedAt } = state.committedInWave();
    if (positions.length === 0) return;
    const offset = state.waveOffset(index);
    const size = state.waves[index] ?? 0;
    const pageSize = plan ? size : PAGE_SIZE; // runs before paging asked about the whole wave at once
    const regressed: string[] = [];
    for (let from = 0; from < size; from += pageSize) {
      const inPage = positions.filter((position) => position >= from && position < from + pageSize);
      if (inPage.length === 0) continue;
      const ids = await devicesAt(offset + from, Math.min(pageSize, size - from));
      const wanted = inPage.map((position) => ({ position, deviceId: ids[position - from]! }));
      const seen = await devicePresence(wanted.map(({ deviceId }) => deviceId));
      for (const { position, deviceId } of wanted) {
        // Only heartbeats sent after the commit tell: an older one still names the revision before.
        const since = committed?.[deviceId]?.since ?? finishedAt;
        if (!runsAnotherRevision(seen[deviceId], since, revision)) continue;
        state.revoke(
          deviceId,
          {
            code: 'UNHEALTHY_AFTER_COMMIT',
            message: `runs ${seen[deviceId]?.revision ?? 'nothing'} at the end of the soak, not ${revision}`,
          },
          position,
        );
        if (committed) delete committed[deviceId];
        regressed.push(deviceId);
      }
    }
    if (regressed.length > 0) await record('rollout.soak.regressed', { devices: regressed });
  }

  /**
   * Policy `offline: wait`: after the last wave, devices that were offline
   * are updated as their heartbeats show them back, until none is left or
   * `waitMs` has passed (they stay pending then). Stops early to continue as new.
   */
  async function updateReturningDevices(): Promise<void> {
    const { waitMs, checkMs } = state.policy.offline;
    if (state.pendingDevices().length === 0) return;
    if (state.startOfflineWait(Date.now()))
      await record('rollout.offline.waiting', { devices: state.pendingDevices().length, waitMs });
    while (state.waitsForOffline(Date.now())) {
      if (paged ? continueAsNewDue() : historyPastLimit()) return;
      const pending = state.pendingDevices();
      const seen = await devicePresence(pending.map(([deviceId]) => deviceId));
      const back = pending.filter(([deviceId, since]) => isBack(seen[deviceId], since));
      if (back.length > 0) {
        await record('rollout.offline.returned', { devices: back.length });
        let given = false;
        await runDevices(runner, back.length, () => {
          const page = given ? undefined : back.map(([deviceId]) => ({ deviceId }));
          given = true;
          return Promise.resolve(page);
        });
      } else {
        await condition(() => state.isAborted, checkMs);
      }
    }
  }
}
