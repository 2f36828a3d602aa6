import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  proxyActivities,
  setHandler,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities/index.ts';
import {
  DeviceUpdateProgress,
  type AwaitedStep,
  type DeviceUpdateEvent,
  type UpdateCommand,
} from '../core/index.ts';
import { deviceProgressSignal, deviceUpdateStatusQuery } from './messages.ts';

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
  /** Have the Director assign the revision to the device first (rollouts do; tests may assign themselves). */
  assign?: boolean;
  /** Time limit of each step; defaults in {@link DEFAULT_PHASE_TIMEOUTS}. */
  phaseTimeouts?: Partial<Record<AwaitedStep, Duration>>;
}

export interface DeviceUpdateResult {
  outcome: 'committed' | 'rolled_back';
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
};

const { assignRevision } = proxyActivities<activities.UprollActivities>({
  // Director signing; transient trouble (disk, lock) is retried, a refusal is final.
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10 },
});

const { recordDeviceEvent } = proxyActivities<activities.UprollActivities>({
  // One JetStream publish: a worker that died mid-append is retried soon.
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

/**
 * One device's update as a durable transaction: command the device over NATS,
 * follow its progress (telemetry delivered as signals) with a time limit per
 * phase, and end committed or rolled back. Every phase is appended to the
 * event log. A device-side failure (bad hash, unreachable device, timeout)
 * fails the workflow with an `ApplicationFailure` whose type is the error code.
 */
export async function deviceUpdateWorkflow(input: DeviceUpdateInput): Promise<DeviceUpdateResult> {
  const { deviceId, command } = input;
  const timeouts = { ...DEFAULT_PHASE_TIMEOUTS, ...input.phaseTimeouts };
  const progress = new DeviceUpdateProgress(deviceId, command.rolloutId);
  setHandler(deviceProgressSignal, (report) => void progress.apply(report));
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
  if (input.assign) {
    await assignRevision(deviceId, command.revision).catch((err: unknown) =>
      fail(...describeActivityFailure(err, 'NOT_ASSIGNED')),
    );
  }
  await commandDevice(deviceId, command, timeouts.command).catch((err: unknown) =>
    fail(...describeCommandFailure(err, timeouts.command)),
  );
  progress.markCommanded();

  let recorded = 0;
  for (;;) {
    // Signals may arrive while an event is being recorded: take phases one by one.
    for (let next = progress.phases[recorded]; next; next = progress.phases[recorded]) {
      recorded += 1;
      const { phase, report } = next;
      if (phase === 'failed') {
        return fail(
          report?.error?.code ?? 'INSTALL_FAILED',
          report?.error?.message ?? 'the device reported a failure',
        );
      }
      await record(`device.update.${phase}`, { deployment: report?.deployment, error: report?.error });
    }
    const step = progress.awaiting;
    if (step === undefined) break;
    const moved = await condition(() => progress.phases.length > recorded, timeouts[step]);
    if (!moved) {
      return fail(
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
    deployment: last?.deployment,
    reason: last?.error,
  };
}

/** Sends the command, retrying while the device is unreachable, within the command time limit. */
function commandDevice(deviceId: string, command: UpdateCommand, limit: Duration): Promise<unknown> {
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
  const last = cause instanceof TimeoutFailure && cause.cause ? ` (last error: ${cause.cause.message})` : '';
  return ['PHASE_TIMEOUT', `the device did not accept the update command within ${String(limit)}${last}`];
}

function describeActivityFailure(err: unknown, fallback: string): [string, string] {
  const cause: unknown = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) return [cause.type ?? fallback, cause.message];
  return [fallback, err instanceof Error ? err.message : String(err)];
}

function phaseNames(progress: DeviceUpdateProgress): string[] {
  return progress.phases.map((p) => p.phase);
}
