import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  proxyActivities,
  patched,
  proxyLocalActivities,
  setHandler,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities/index.ts';
import { DeviceUpdateProgress, type AwaitedStep } from '../core/models.ts';
import type { DeviceUpdateEvent, PhaseRecord, Telemetry, UpdateCommand } from '../core/index.ts';
import { StepDeadline } from './step-deadline.ts';
import {
  deviceProgressSignal,
  deviceUpdateStatusQuery,
  deviceVersionReportSignal,
  type DeviceUpdateInput,
  type DeviceUpdateResult,
} from './contracts.ts';

const MINUTE = 60_000;

/** Milliseconds. */
export const DEFAULT_PHASE_TIMEOUTS: Record<AwaitedStep, number> = {
  command: 2 * MINUTE,
  download: 30 * MINUTE,
  install: 10 * MINUTE,
  verdict: 10 * MINUTE,
  report: 2 * MINUTE,
};

// Local activities: each is one marker in the history and runs inside the
// workflow task, which keeps a quick device update to two to four workflow
// tasks and about twenty history events.
const { beginDeviceUpdate, openDeviceUpdate } = proxyLocalActivities<activities.UprollActivities>({
  // Lease, event and Director signing; transient trouble (NATS, disk, lock) is retried, a refusal is final.
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10 },
});

const { recordDeviceEvents, releaseDevice, storedTelemetry } =
  proxyLocalActivities<activities.UprollActivities>({
    // JetStream publishes (events deduplicated by message id, leases by compare-and-set): retried soon.
    startToCloseTimeout: '10 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });

// The command's first try: a device that is online answers within a second.
const { sendUpdateCommand: tryUpdateCommand } = proxyLocalActivities<activities.UprollActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 1 },
});

/**
 * One device's update as a durable transaction: the Director assigns the
 * revision, the device is commanded over NATS, and its progress (telemetry
 * delivered as signals) moves through downloaded, verified, installed,
 * healthy and committed, each with a time limit. The update counts as
 * committed only once the Director accepted a signed version report showing
 * the new revision (a signal from its report listener). Every phase is
 * appended to the event log. A device-side failure (bad hash, unreachable
 * device, timeout) fails the workflow with an `ApplicationFailure` whose
 * type is the error code.
 */
export async function deviceUpdateWorkflow(input: DeviceUpdateInput): Promise<DeviceUpdateResult> {
  const { deviceId, command, holdFor } = input;
  const timeouts = { ...DEFAULT_PHASE_TIMEOUTS, ...input.phaseTimeouts };
  const progress = new DeviceUpdateProgress(deviceId, command.rolloutId);
  const gaps = new PhaseGaps(progress, patched('fill-phase-gaps'));
  setHandler(deviceProgressSignal, (reports) => {
    for (const report of reports) gaps.take(report);
  });
  setHandler(
    deviceVersionReportSignal,
    (report) => void progress.applyVersionReport(report, command.revision),
  );
  setHandler(deviceUpdateStatusQuery, () => progress.phases);

  const { workflowId } = workflowInfo();
  const eventOf = (
    type: DeviceUpdateEvent['type'],
    extra: Partial<DeviceUpdateEvent['data']> = {},
  ): DeviceUpdateEvent => ({
    aggregate: 'device',
    aggregateId: deviceId,
    type,
    at: new Date().toISOString(),
    data: {
      rolloutId: command.rolloutId,
      ...(input.rollout ? { rollout: input.rollout } : {}),
      revision: command.revision,
      workflowId,
      ...extra,
    },
  });
  // Released at the end, whatever happened (beginning may have taken it before it failed).
  let holding = holdFor !== undefined;
  /** Appends events; the update's last ones let the device go in the same step. */
  const record: RecordEvents = async (events, last) => {
    const release = last && holding && holdFor !== undefined ? { deviceId, rolloutId: holdFor } : undefined;
    await recordDeviceEvents(events, release);
    if (release) holding = false;
  };
  const fail = async (code: string, message: string): Promise<never> => {
    await record([eventOf('device.update.failed', { error: { code, message } })], true);
    throw ApplicationFailure.nonRetryable(message, code, { deviceId, phases: phaseNames(progress) });
  };

  try {
    const opening = {
      deviceId,
      ...(holdFor !== undefined ? { holdFor } : {}),
      started: eventOf('device.update.started'),
      ...(input.assign !== false ? { assign: command } : {}),
    };
    const notAssigned = (err: unknown) => fail(...describeActivityFailure(err, 'NOT_ASSIGNED'));
    const busy = (): DeviceUpdateResult => {
      holding = false;
      return {
        outcome: 'busy',
        deviceId,
        rolloutId: command.rolloutId,
        revision: command.revision,
        phases: [],
      };
    };
    const commandDeviceOrFail = (tried: boolean) =>
      commandDevice(deviceId, command, eventOf('device.update.commanded'), timeouts.command, tried).catch(
        (err: unknown) => fail(...describeCommandFailure(err, timeouts.command)),
      );
    // One local activity opens the update and tries the command, where there were two.
    if (patched('open-and-command-at-once')) {
      const opened = await openDeviceUpdate({
        ...opening,
        command,
        commanded: eventOf('device.update.commanded'),
      }).catch(notAssigned);
      if (!opened.begun) return busy();
      if (opened.refused) await fail(opened.refused.code, opened.refused.message);
      if (!opened.commanded) await commandDeviceOrFail(true);
    } else {
      if (!(await beginDeviceUpdate(opening).catch(notAssigned))) return busy();
      await commandDeviceOrFail(false);
    }
    progress.markCommanded();
    await followPhases(progress, gaps, command.revision, timeouts, eventOf, record, fail);
  } finally {
    if (holding && holdFor !== undefined) await releaseDevice(deviceId, holdFor);
  }

  const last = progress.current?.report;
  return {
    outcome: progress.current?.phase === 'committed' ? 'committed' : 'rolled_back',
    deviceId,
    rolloutId: command.rolloutId,
    revision: command.revision,
    phases: phaseNames(progress),
    ...(progress.versionReport ? { reportCounter: progress.versionReport.counter } : {}),
    deployment: last?.deployment,
    reason: last?.error,
  };
}

/**
 * Telemetry that would pass over phases not seen yet, held back until the
 * device's stored telemetry filled them in: with several telemetry bridges,
 * one device's reports can come as signals out of order, and a later phase
 * applied first would leave the ones before it out of the event log. What
 * the device truly skipped stays skipped. Off for updates begun before it.
 */
class PhaseGaps {
  readonly #progress: DeviceUpdateProgress;
  readonly #enabled: boolean;
  readonly #held: Telemetry[] = [];

  constructor(progress: DeviceUpdateProgress, enabled: boolean) {
    this.#progress = progress;
    this.#enabled = enabled;
  }

  get holding(): boolean {
    return this.#held.length > 0;
  }

  /** Applies a report, or holds it back (and every one after it, to keep their order) over a gap. */
  take(report: Telemetry): void {
    if (this.#enabled && (this.holding || this.#progress.skipsPhases(report))) this.#held.push(report);
    else this.#progress.apply(report);
  }

  /** Applies the device's stored telemetry of this update, then what was held back (phases only move forward). */
  async fill(): Promise<void> {
    const { deviceId, rolloutId } = this.#progress;
    // Unreadable, the held reports are applied as they are: the update goes on, one phase short in the log.
    const stored = await storedTelemetry(deviceId, rolloutId).catch(() => []);
    for (const report of stored) this.#progress.apply(report);
    for (const report of this.#held.splice(0)) this.#progress.apply(report);
  }
}

/** Appends device update events; `last`: the update ends with them (the device is let go in the same step). */
type RecordEvents = (events: DeviceUpdateEvent[], last: boolean) => Promise<void>;

const FOLLOWED_STEPS: readonly AwaitedStep[] = ['download', 'install', 'verdict', 'report'];

/**
 * Records each phase the device reaches (those that arrived together in one
 * batch of events) until the update ends, failing a step that outlasts its
 * time limit. `committed` waits for the version report that confirms it.
 */
async function followPhases(
  progress: DeviceUpdateProgress,
  gaps: PhaseGaps,
  revision: string,
  timeouts: Record<AwaitedStep, number>,
  eventOf: (type: DeviceUpdateEvent['type'], extra?: Partial<DeviceUpdateEvent['data']>) => DeviceUpdateEvent,
  record: RecordEvents,
  fail: (code: string, message: string) => Promise<never>,
): Promise<void> {
  const { deviceId } = progress;
  let recorded = 1; // `commanded`, appended by the command step
  const nextToRecord = () => {
    const next = progress.phases[recorded];
    return next && (next.phase !== 'committed' || progress.versionReport) ? next : undefined;
  };
  // The command step is the command activity's to time; the rest wait on the device.
  const deadline = new StepDeadline(Math.min(...FOLLOWED_STEPS.map((step) => timeouts[step])));
  for (;;) {
    if (gaps.holding) await gaps.fill();
    const events: DeviceUpdateEvent[] = [];
    let failure: PhaseRecord | undefined;
    for (let next = nextToRecord(); next && !failure; next = nextToRecord()) {
      recorded += 1;
      const { phase, report } = next;
      if (phase === 'failed') failure = next;
      else
        events.push(
          eventOf(`device.update.${phase}`, {
            deployment: report?.deployment,
            error: report?.error,
            ...(phase === 'committed' ? { reportCounter: progress.versionReport?.counter } : {}),
          }),
        );
    }
    // Signals may arrive while these are recorded: the loop takes them next.
    if (events.length > 0) await record(events, !failure && progress.awaiting === undefined);
    if (failure)
      return fail(
        failure.report?.error?.code ?? 'INSTALL_FAILED',
        failure.report?.error?.message ?? 'the device reported a failure',
      );
    const step = progress.awaiting;
    if (step === undefined) return;
    deadline.start(timeouts[step]);
    // A new step without a phase to record: `committed` came before its version report.
    const movedOn = () => nextToRecord() !== undefined || progress.awaiting !== step;
    await condition(() => movedOn() || gaps.holding || deadline.passed);
    if (gaps.holding) continue;
    if (!movedOn()) {
      return step === 'report'
        ? fail(
            'VERSION_REPORT_MISSING',
            `device ${deviceId} reported ${revision} committed, but no signed version report showing it reached the Director within ${spoken(timeouts.report)}`,
          )
        : fail(
            'PHASE_TIMEOUT',
            `device ${deviceId} did not finish the ${step} step within ${spoken(timeouts[step])}`,
          );
    }
  }
}

/**
 * Sends the command (appending `commanded` once the device accepted it):
 * once at once (unless `tried` already), then (unless the device refused it)
 * again with backoff while it is unreachable or busy, within the time limit.
 */
async function commandDevice(
  deviceId: string,
  command: UpdateCommand,
  commanded: DeviceUpdateEvent,
  limit: number,
  tried: boolean,
): Promise<unknown> {
  if (!tried) {
    try {
      return await tryUpdateCommand(deviceId, command, commanded);
    } catch (err) {
      const cause: unknown = err instanceof ActivityFailure ? err.cause : err;
      if (cause instanceof ApplicationFailure && cause.nonRetryable) throw err;
    }
  }
  // A regular activity: its retries may run for minutes while the device is offline.
  const { sendUpdateCommand } = proxyActivities<activities.UprollActivities>({
    startToCloseTimeout: '10 seconds',
    scheduleToCloseTimeout: limit,
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '15 seconds' },
  });
  return sendUpdateCommand(deviceId, command, commanded);
}

function describeCommandFailure(err: unknown, limit: number): [string, string] {
  const cause: unknown = err instanceof ActivityFailure ? err.cause : err;
  // A refusal is final; anything else was retried until the time limit ran out.
  if (cause instanceof ApplicationFailure && cause.nonRetryable && cause.type)
    return [cause.type, cause.message];
  const lastError = cause instanceof TimeoutFailure ? cause.cause : undefined;
  if (lastError instanceof ApplicationFailure && lastError.type === 'DEVICE_BUSY')
    return [
      'DEVICE_BUSY',
      `the device was busy with another update for ${spoken(limit)}: ${lastError.message}`,
    ];
  const last = lastError ? ` (last error: ${lastError.message})` : '';
  return ['DEVICE_OFFLINE', `the device did not accept the update command within ${spoken(limit)}${last}`];
}

function describeActivityFailure(err: unknown, fallback: string): [string, string] {
  const cause: unknown = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) return [cause.type ?? fallback, cause.message];
  return [fallback, err instanceof Error ? err.message : String(err)];
}

function phaseNames(progress: DeviceUpdateProgress): string[] {
  return progress.phases.map((p) => p.phase);
}

/** A time limit as a person says it: '3 seconds', '2 minutes', '1500 ms'. */
function spoken(ms: number): string {
  const [amount, unit] =
    ms % MINUTE === 0 ? [ms / MINUTE, 'minute'] : ms % 1000 === 0 ? [ms / 1000, 'second'] : [ms, 'ms'];
  return unit === 'ms' ? `${amount} ms` : `${amount} ${unit}${amount === 1 ? '' : 's'}`;
}
