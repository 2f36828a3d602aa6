import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities/index.ts';
import { DeviceUpdateProgress, type AwaitedStep } from '../core/device-update-progress.ts';
import type { DeviceUpdateEvent, UpdateCommand } from '../core/index.ts';
import { deviceProgressSignal, deviceUpdateStatusQuery, deviceVersionReportSignal } from './messages.ts';

/**
 * Milliseconds, or an `ms`-style text such as '30 seconds' as Temporal takes it.
 * (Temporal's own `Duration` type degrades to `any` under nodenext resolution.)
 */
export type Duration = number | string;

/** Input of {@link deviceUpdateWorkflow}. */
export interface DeviceUpdateInput {
  deviceId: string;
  command: UpdateCommand;
  /** The rollout this update belongs to (its events say so, retries included). */
  rollout?: string;
  /**
   * Have the Director assign the revision for this update first (default).
   * False when the caller assigned it already, with this update's rollout id.
   */
  assign?: boolean;
  /**
   * Hold the device for this rollout while it updates (a device is in one
   * rollout at a time); when another rollout holds it, end at once as `busy`.
   */
  holdFor?: string;
  /** Time limit of each step; defaults in {@link DEFAULT_PHASE_TIMEOUTS}. */
  phaseTimeouts?: Partial<Record<AwaitedStep, Duration>>;
}

export interface DeviceUpdateResult {
  /** `busy`: another rollout held the device, nothing was done (only with `holdFor`). */
  outcome: 'committed' | 'rolled_back' | 'busy';
  /** The counter of the signed version report that showed the revision committed. */
  reportCounter?: number;
  deviceId: string;
  rolloutId: string;
  revision: string;
  phases: string[];
  deployment?: string;
  reason?: { code: string; message: string };
}

export const DEFAULT_PHASE_TIMEOUTS: Record<AwaitedStep, Duration> = {
  command: '2 minutes',
  download: '30 minutes',
  install: '10 minutes',
  verdict: '10 minutes',
  report: '2 minutes',
};

// Local activities: each is one marker in the history and runs inside the
// workflow task, which keeps a device update to a few dozen history events.
const { assignRevision } = proxyLocalActivities<activities.UprollActivities>({
  // Director signing; transient trouble (disk, lock) is retried, a refusal is final.
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10 },
});

const { recordDeviceEvent, acquireDevice, releaseDevice } = proxyLocalActivities<activities.UprollActivities>(
  {
    // One JetStream publish (events deduplicated by message id, leases by compare-and-set): retried soon.
    startToCloseTimeout: '10 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  },
);

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
  if (holdFor === undefined) return updateDevice(input);
  if (!(await acquireDevice(deviceId, holdFor)))
    return {
      outcome: 'busy',
      deviceId,
      rolloutId: command.rolloutId,
      revision: command.revision,
      phases: [],
    };
  try {
    return await updateDevice(input);
  } finally {
    await releaseDevice(deviceId, holdFor);
  }
}

async function updateDevice(input: DeviceUpdateInput): Promise<DeviceUpdateResult> {
  const { deviceId, command } = input;
  const timeouts = { ...DEFAULT_PHASE_TIMEOUTS, ...input.phaseTimeouts };
  const progress = new DeviceUpdateProgress(deviceId, command.rolloutId);
  setHandler(deviceProgressSignal, (report) => void progress.apply(report));
  setHandler(
    deviceVersionReportSignal,
    (report) => void progress.applyVersionReport(report, command.revision),
  );
  setHandler(deviceUpdateStatusQuery, () => progress.phases);

  const { workflowId } = workflowInfo();
  const record = (type: DeviceUpdateEvent['type'], extra: Partial<DeviceUpdateEvent['data']> = {}) =>
    recordDeviceEvent({
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
  const fail = async (code: string, message: string): Promise<never> => {
    await record('device.update.failed', { error: { code, message } });
    throw ApplicationFailure.nonRetryable(message, code, { deviceId, phases: phaseNames(progress) });
  };

  await record('device.update.started');
  if (input.assign !== false) {
    await assignRevision(deviceId, command.revision, command.rolloutId).catch((err: unknown) =>
      fail(...describeActivityFailure(err, 'NOT_ASSIGNED')),
    );
  }
  await commandDevice(deviceId, command, timeouts.command).catch((err: unknown) =>
    fail(...describeCommandFailure(err, timeouts.command)),
  );
  progress.markCommanded();

  // Signals may arrive while an event is being recorded: take phases one by
  // one. `committed` waits for the version report that confirms it.
  let recorded = 0;
  const nextToRecord = () => {
    const next = progress.phases[recorded];
    return next && (next.phase !== 'committed' || progress.versionReport) ? next : undefined;
  };
  for (;;) {
    for (let next = nextToRecord(); next; next = nextToRecord()) {
      recorded += 1;
      const { phase, report } = next;
      if (phase === 'failed') {
        return fail(
          report?.error?.code ?? 'INSTALL_FAILED',
          report?.error?.message ?? 'the device reported a failure',
        );
      }
      await record(`device.update.${phase}`, {
        deployment: report?.deployment,
        error: report?.error,
        ...(phase === 'committed' ? { reportCounter: progress.versionReport?.counter } : {}),
      });
    }
    const step = progress.awaiting;
    if (step === undefined) break;
    if (!(await condition(() => nextToRecord() !== undefined, timeouts[step]))) {
      return step === 'report'
        ? fail(
            'VERSION_REPORT_MISSING',
            `device ${deviceId} reported ${command.revision} committed, but no signed version report showing it reached the Director within ${String(timeouts.report)}`,
          )
        : fail(
            'PHASE_TIMEOUT',
            `device ${deviceId} did not finish the ${step} step within ${String(timeouts[step])}`,
          );
    }
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

/** Sends the command, retrying while the device is unreachable, within the command time limit. */
function commandDevice(deviceId: string, command: UpdateCommand, limit: Duration): Promise<unknown> {
  // A regular activity: its retries may run for minutes while the device is offline.
  const { sendUpdateCommand } = proxyActivities<activities.UprollActivities>({
    startToCloseTimeout: '10 seconds',
    scheduleToCloseTimeout: limit,
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '15 seconds' },
  });
  return sendUpdateCommand(deviceId, command);
}

function describeCommandFailure(err: unknown, limit: Duration): [string, string] {
  const cause: unknown = err instanceof ActivityFailure ? err.cause : err;
  // A refusal is final; anything else was retried until the time limit ran out.
  if (cause instanceof ApplicationFailure && cause.nonRetryable && cause.type)
    return [cause.type, cause.message];
  const lastError = cause instanceof TimeoutFailure ? cause.cause : undefined;
  if (lastError instanceof ApplicationFailure && lastError.type === 'DEVICE_BUSY')
    return [
      'DEVICE_BUSY',
      `the device was busy with another update for ${String(limit)}: ${lastError.message}`,
    ];
  const last = lastError ? ` (last error: ${lastError.message})` : '';
  return ['DEVICE_OFFLINE', `the device did not accept the update command within ${String(limit)}${last}`];
}

function describeActivityFailure(err: unknown, fallback: string): [string, string] {
  const cause: unknown = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) return [cause.type ?? fallback, cause.message];
  return [fallback, err instanceof Error ? err.message : String(err)];
}

function phaseNames(progress: DeviceUpdateProgress): string[] {
  return progress.phases.map((p) => p.phase);
}
