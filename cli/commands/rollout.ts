import { readFile } from 'node:fs/promises';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import {
  assertTag,
  devicesToRetry,
  finishedPerWave,
  planWaves,
  retryRolloutId,
  rolloutPolicySchema,
  UprollError,
  type RolloutPolicyInput,
  type RolloutTarget,
} from '../../core/index.ts';
import { EventLog, type StoredEvent } from '../../services/nats/index.ts';
import { withRollbackAfterEnd } from '../../services/projections/index.ts';
import { rolloutHandle, startRollout, type RolloutHandle } from '../../services/temporal/index.ts';
import {
  abortRolloutUpdate,
  pauseRolloutUpdate,
  resumeRolloutUpdate,
  rollbackRolloutUpdate,
  rolloutProgressQuery,
  type RolloutProgress,
} from '../../workflows/contracts.ts';
import { UsageError, type Command, type Io, type OptionSpec } from '../command.ts';
import { locationOptions } from '../locations.ts';
import { withDeploymentNats, withDeploymentTemporal as withTemporal } from '../deployment-connections.ts';
import { DEPLOYMENT_HELP, deploymentOptions } from '../deployment.ts';
import { endJson, endLine, eventLine, followRollout, ROLLOUT_EXIT_HELP } from './rollout-follow.ts';
import { requireReleasedRevision, requireUnusedRolloutId, rolloutDevices } from './rollout-preflight.ts';
import { actorOf } from '../audit.ts';
import { rollBackEnded, rollbackLines } from './rollout-rollback.ts';
import { taskQueueOf, taskQueueOption } from '../task-queue.ts';
import { errorLines, oneLine } from '../device-text.ts';

const targetOptions: Record<string, OptionSpec> = {
  device: { type: 'string', multiple: true, description: 'a device of the rollout (repeat for several)' },
  'hardware-id': { type: 'string', description: 'every device of this hardware id the Director knows' },
  tag: { type: 'string', description: 'every device carrying this tag (`uproll devices tag`)' },
};

/** What a rollout gets for each option left out: the schema's own defaults, so help cannot drift from them. */
const DEFAULTS = rolloutPolicySchema.parse({});
/** How long a maintenance window given by --window stays open when --window-duration is not. */
const WINDOW_DURATION_MS = 3_600_000;

const policyOptions: Record<string, OptionSpec> = {
  policy: {
    type: 'string',
    description: 'a JSON file with the whole policy (the options below override it)',
  },
  canary: { type: 'string', description: `devices in the canary wave (default ${DEFAULTS.canary})` },
  waves: {
    type: 'string',
    description: `cumulative percentages after the canary (default ${'percentages' in DEFAULTS.waves ? DEFAULTS.waves.percentages.join(',') : ''})`,
  },
  'max-in-flight': {
    type: 'string',
    description: `devices updating at once, at most (default ${DEFAULTS.maxInFlight})`,
  },
  'min-sample': {
    type: 'string',
    description: `finished devices before the gate may stop the rollout (default ${DEFAULTS.gate.minSample})`,
  },
  'max-failure-rate': {
    type: 'string',
    description: `failed or rolled back share the gate allows, 0..1 (default ${DEFAULTS.gate.maxFailureRate})`,
  },
  soak: {
    type: 'string',
    description: `ms committed devices must stay healthy between waves (default ${DEFAULTS.gate.soakMs})`,
  },
  'on-breach': {
    type: 'string',
    description: `pause, abort or abort_and_rollback when the gate fails (default ${DEFAULTS.onBreach})`,
  },
  offline: {
    type: 'string',
    description: `devices that do not answer: pending, or wait (updated when they come back) (default ${DEFAULTS.offline.action})`,
  },
  'offline-after': {
    type: 'string',
    description: `ms a device may stay silent before it is offline (default ${DEFAULTS.offline.afterMs})`,
  },
  window: {
    type: 'string',
    description: 'maintenance window: a cron of when it opens, e.g. "0 2 * * 1-5" (device local time)',
  },
  'window-duration': {
    type: 'string',
    description: `ms the maintenance window stays open (default ${WINDOW_DURATION_MS})`,
  },
  'window-timezone': { type: 'string', description: 'time zone of devices that report none (default UTC)' },
};

export const rolloutPlan: Command = {
  name: 'rollout plan',
  summary: 'Dry run: the waves of a rollout and which devices fall in each. Changes nothing.',
  usage: 'uproll rollout plan (--device ID ... | --hardware-id HW | --tag TAG) [policy options] [--json]',
  options: { ...locationOptions, ...targetOptions, ...policyOptions },
  details:
    'The devices come from the Director --director names, as `rollout start` checks them; a target\n' +
    'that names no device is refused (INVALID_INPUT). It reaches neither Temporal nor NATS.',
  async run({ values }, io) {
    const policy = rolloutPolicySchema.parse(await policyOf(values));
    const devices = await rolloutDevices(values, targetOf(values));
    const waves = planWaves(devices, policy);
    if (values.json) io.out(JSON.stringify({ policy, waves }));
    else
      io.out(
        waves
          .map(
            (wave, i) => `wave ${i}${i === 0 ? ' (canary)' : ''}: ${wave.length} devices  ${preview(wave)}`,
          )
          .join('\n'),
      );
    return 0;
  },
};

export const rolloutStart: Command = {
  name: 'rollout start',
  summary: 'Start a staged rollout of a released revision (needs `uproll worker` with the online keys).',
  usage:
    'uproll rollout start ROLLOUT_ID --revision NAME (--device ID ... | --hardware-id HW | --tag TAG) [policy options] [--wait]',
  details:
    'Refused before anything starts: a ROLLOUT_ID used before (ROLLOUT_EXISTS, even long after that rollout ended: it is on the event log),\n' +
    'a revision the Image repository (--repo) has not released (TARGET_NOT_FOUND), a target that names no\n' +
    'device of the Director (--director), as `rollout plan` shows it.\n' +
    'With --wait, prints every state change (waves, gates, pauses and why, resume, abort, the end) and stops\n' +
    'when the rollout ends or pauses; with --json, one JSON object at the end.\n' +
    ROLLOUT_EXIT_HELP +
    `\n${DEPLOYMENT_HELP}`,
  options: {
    ...locationOptions,
    ...deploymentOptions,
    ...taskQueueOption,
    revision: { type: 'string', description: 'the state revision to roll out (uproll release revision)' },
    ...targetOptions,
    ...policyOptions,
    by: { type: 'string', description: 'who starts it, for the audit trail (required; or set $UPROLL_BY)' },
    wait: {
      type: 'boolean',
      description: 'print its state changes until it ends or pauses (exit codes below)',
    },
  },
  async run({ values, positionals }, io) {
    const [rolloutId] = positionals;
    if (!rolloutId || typeof values['revision'] !== 'string')
      throw new UsageError('name the ROLLOUT_ID and its --revision');
    const revision = values['revision'];
    const target = targetOf(values);
    const policy = await policyOf(values);
    await preflight(values, rolloutId, revision, target);
    return withTemporal(values, async (client) => {
      const handle = await startRollout(
        client,
        { rolloutId, revision, target, policy, startedBy: actorOf(values) },
        { taskQueue: taskQueueOf(values) },
      );
      if (!values['wait']) {
        io.out(
          values.json
            ? JSON.stringify({ rolloutId, workflowId: handle.workflowId })
            : `started ${handle.workflowId}`,
        );
        return 0;
      }
      return reportUntilSettled(values, handle, rolloutId, io, 'summary');
    });
  },
};

export const rolloutStatus: Command = {
  name: 'rollout status',
  summary: 'Waves, counts and every device that did not commit, of one rollout.',
  usage: 'uproll rollout status ROLLOUT_ID [--json]',
  details: DEPLOYMENT_HELP,
  options: { ...deploymentOptions },
  run({ values, positionals }, io) {
    const rolloutId = requireId(positionals);
    return withTemporal(values, async (client) => {
      const progress = await rolloutHandle(client, rolloutId).query(rolloutProgressQuery);
      // Temporal's rollout ended before its rollback; the event log knows what came after.
      const shown = await withDeploymentNats(values, async (nc) =>
        withRollbackAfterEnd(progress, await new EventLog(nc).read('rollout', rolloutId)),
      );
      if (values.json) io.out(JSON.stringify(shown));
      else {
        printProgress(shown, io);
        for (const line of 'rollback' in shown ? rollbackLines(shown.rollback) : []) io.out(line);
      }
      return 0;
    });
  },
};

/**
 * pause, resume, abort and rollback: one Update each, refused with a reason
 * when it does not apply; `whenEnded` takes over once the rollout has ended.
 */
function controlCommand(
  verb: 'pause' | 'resume' | 'abort' | 'rollback',
  update: typeof pauseRolloutUpdate,
  whenEnded?: typeof rollBackEnded,
): Command {
  return {
    name: `rollout ${verb}`,
    summary: `${verb[0]?.toUpperCase()}${verb.slice(1)} a rollout; prints its progress after.`,
    usage: `uproll rollout ${verb} ROLLOUT_ID [--by NAME] [--json]`,
    details: DEPLOYMENT_HELP,
    options: {
      ...deploymentOptions,
      by: { type: 'string', description: 'who asks, for the audit trail (required; or set $UPROLL_BY)' },
    },
    run({ values, positionals }, io) {
      const rolloutId = requireId(positionals);
      const by = actorOf(values);
      return withTemporal(values, async (client) => {
        try {
          const handle = rolloutHandle(client, rolloutId);
          const progress = await handle.executeUpdate(update, { args: [by] });
          if (verb === 'rollback') {
            // The rollout returns its devices itself, then ends: the command answers once they are back.
            if (!values.json)
              io.err(`rollout ${rolloutId} is aborted and rolls its devices back; waiting for them`);
            const ended = await handle.result();
            const { committed, rolledBack, failed } = ended.counts;
            if (values.json) io.out(JSON.stringify(ended));
            else
              io.out(
                `rollout ${rolloutId} ended ${ended.status}: ${rolledBack} rolled back, ${committed} committed, ${failed} failed`,
              );
            return ended.status === 'rolled_back' ? 0 : 3; // as a rollback after the end: some did not go back
          }
          if (values.json) io.out(JSON.stringify(progress));
          else printProgress(progress, io);
          return 0;
        } catch (err) {
          if (err instanceof WorkflowUpdateFailedError)
            throw new UprollError('COMMAND_REJECTED', err.cause?.message ?? err.message);
          if (err instanceof WorkflowNotFoundError && whenEnded)
            return whenEnded(values, client, rolloutId, by, io);
          if (err instanceof WorkflowNotFoundError)
            throw new UprollError('COMMAND_REJECTED', `rollout ${rolloutId} has ended or does not exist`);
          throw err;
        }
      });
    },
  };
}
export const rolloutPause = controlCommand('pause', pauseRolloutUpdate);
export const rolloutResume = controlCommand('resume', resumeRolloutUpdate);
export const rolloutAbort = controlCommand('abort', abortRolloutUpdate);
const rollbackControl = controlCommand('rollback', rollbackRolloutUpdate, rollBackEnded);
export const rolloutRollback: Command = {
  ...rollbackControl,
  summary: 'Return every device a rollout committed to its previous revision (a running one is aborted).',
  usage: 'uproll rollout rollback ROLLOUT_ID [--retry] [--by NAME] [--json]',
  details:
    'A running or paused rollout is aborted and rolls its devices back itself; the command waits until it\n' +
    'has, and prints where each stands (exit 0; 3 when the rollout did not end rolled back). A rollout that has ended\n' +
    '(completed or aborted) is rolled back by rollback/ROLLOUT_ID, which waits for it: each device the\n' +
    'event log says it left on its revision goes back to the one before (a device that moved on since is\n' +
    'left alone). Once only: a rollout rolled back before is refused (ALREADY_ROLLED_BACK); --retry then\n' +
    'asks again only the devices it found busy or failed (offline, say), as rollback/ROLLOUT_ID/<n>.\n' +
    'Exit codes after the end: 0 every device asked went back or was left alone, 3 some were busy or failed.\n' +
    DEPLOYMENT_HELP,
  options: {
    ...rollbackControl.options,
    ...taskQueueOption,
    retry: {
      type: 'boolean',
      description: 'after a rollback after the end: ask again the devices it could not return',
    },
  },
  run(args, io) {
    if (args.values['retry'] !== true) return rollbackControl.run(args, io);
    // Only a rollout that has ended has a rollback to retry: no Update is tried.
    const rolloutId = requireId(args.positionals);
    const by = actorOf(args.values);
    return withTemporal(args.values, (client) => rollBackEnded(args.values, client, rolloutId, by, io));
  },
};

export const rolloutRetryFailed: Command = {
  name: 'rollout retry-failed',
  summary:
    'Start a new rollout of the same revision over the devices of a rollout that failed, rolled back or were skipped.',
  usage: 'uproll rollout retry-failed ROLLOUT_ID [--as NEW_ID] [policy options] [--wait] [--json]',
  details:
    'The new rollout is ROLLOUT_ID-retry-<n> unless --as names it; it has its own waves and gates.\n' +
    'Devices skipped because another rollout held them are retried too. Checked like `rollout start`.\n' +
    ROLLOUT_EXIT_HELP +
    `\n${DEPLOYMENT_HELP}`,
  options: {
    ...locationOptions,
    ...deploymentOptions,
    ...taskQueueOption,
    as: { type: 'string', description: 'id of the new rollout' },
    ...policyOptions,
    by: { type: 'string', description: 'who starts it, for the audit trail (required; or set $UPROLL_BY)' },
    wait: {
      type: 'boolean',
      description: 'print its state changes until it ends or pauses (exit codes below)',
    },
  },
  run({ values, positionals }, io) {
    const rolloutId = requireId(positionals);
    return withTemporal(values, async (client) => {
      const progress = await rolloutHandle(client, rolloutId).query(rolloutProgressQuery);
      const devices = devicesToRetry(progress);
      if (devices.length === 0) {
        io.out(
          values.json
            ? JSON.stringify({ retried: [] })
            : `rollout ${rolloutId} has no failed device to retry`,
        );
        return 0;
      }
      const retryId = typeof values['as'] === 'string' ? values['as'] : retryRolloutId(rolloutId, Date.now());
      const policy = await policyOf(values);
      await preflight(values, retryId, progress.revision, { devices });
      const handle = await startRollout(
        client,
        {
          rolloutId: retryId,
          revision: progress.revision,
          target: { devices },
          policy,
          startedBy: actorOf(values),
        },
        { taskQueue: taskQueueOf(values) },
      );
      if (!values['wait']) {
        io.out(
          values.json
            ? JSON.stringify({ rolloutId: retryId, retried: devices })
            : `started ${handle.workflowId} over ${devices.length} devices`,
        );
        return 0;
      }
      return reportUntilSettled(values, handle, retryId, io, 'summary');
    });
  },
};

export const rolloutWatch: Command = {
  name: 'rollout watch',
  summary: 'Follow a rollout live: every state change, a progress bar per wave, until it ends or pauses.',
  usage: 'uproll rollout watch ROLLOUT_ID [--json]',
  details:
    "Prints the rollout's events so far, then each new one (waves, gates, pauses and why, resume, abort,\n" +
    'the end), with the bars after each wave; stops when it ends or pauses, saying why.\n' +
    'With --json, one event per line, then the progress.\n' +
    ROLLOUT_EXIT_HELP +
    `\n${DEPLOYMENT_HELP}`,
  options: { ...deploymentOptions },
  run({ values, positionals }, io) {
    const rolloutId = requireId(positionals);
    return withTemporal(values, (client) =>
      reportUntilSettled(values, rolloutHandle(client, rolloutId), rolloutId, io, 'bars'),
    );
  },
};

/**
 * Follows a rollout on the event log until it ends or pauses, printing each
 * state change; returns the exit code of how it stands (ROLLOUT_EXIT).
 * `summary` ends with the counts and failures, `bars` with a bar per wave.
 */
function reportUntilSettled(
  values: Record<string, unknown>,
  handle: RolloutHandle,
  rolloutId: string,
  io: Io,
  style: 'summary' | 'bars',
): Promise<number> {
  const json = values.json === true;
  return withDeploymentNats(values, async (nc) => {
    const print = async (stored: StoredEvent) => {
      if (json) {
        if (style === 'bars') io.out(JSON.stringify({ sequence: stored.sequence, ...stored.event }));
        return;
      }
      io.out(eventLine(stored));
      if (style === 'bars' && stored.event.type === 'rollout.wave.finished')
        io.out(renderBars(await handle.query(rolloutProgressQuery)));
    };
    const end = await followRollout(nc, handle, rolloutId, print, io.outputClosed).catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError)
        throw new UprollError('INVALID_INPUT', `there is no rollout ${rolloutId}`);
      throw err;
    });
    // Nobody reads on (`| head` quit): stop quietly, as cli/closed-pipe.ts says.
    if (!end) return 0;
    if (json) io.out(style === 'bars' ? JSON.stringify(end.progress) : endJson(end));
    else {
      if (style === 'bars') io.out(renderBars(end.progress));
      else printProgress(end.progress, io);
      io.out(endLine(end));
    }
    return end.exitCode;
  });
}

/**
 * What `start` and `retry-failed` refuse before starting anything: an
 * unreleased revision, a target of no device, an id used before.
 */
async function preflight(
  values: Record<string, unknown>,
  rolloutId: string,
  revision: string,
  target: RolloutTarget,
): Promise<void> {
  await requireReleasedRevision(values, revision);
  await rolloutDevices(values, target);
  await requireUnusedRolloutId(values, rolloutId);
}

/** One line per wave: a bar of its finished devices, then the totals. */
function renderBars(progress: RolloutProgress): string {
  const width = 30;
  const lines = [`rollout ${progress.rolloutId} (${progress.revision}): ${progress.status}`];
  const finished = finishedPerWave(progress);
  for (const wave of progress.waves) {
    const done = finished[wave.index] ?? 0;
    const filled = wave.size === 0 ? width : Math.round((done / wave.size) * width);
    lines.push(
      `  wave ${String(wave.index).padEnd(2)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${wave.size}`,
    );
  }
  const c = progress.counts;
  lines.push(
    `  committed ${c.committed}  rolled back ${c.rolledBack}  failed ${c.failed}  skipped ${c.skipped}  pending ${c.pending}  waiting for window ${c.waitingForWindow}  in flight ${c.inFlight}  of ${c.total}`,
  );
  return lines.join('\n');
}

function targetOf(values: Record<string, unknown>): RolloutTarget {
  const devices = values['device'] as string[] | undefined;
  const hardwareId = values['hardware-id'];
  const tag = values['tag'];
  const named = [devices?.length, hardwareId, tag].filter(Boolean).length;
  if (named === 1 && devices?.length) return { devices };
  if (named === 1 && typeof hardwareId === 'string') return { hardwareId };
  if (named === 1 && typeof tag === 'string') return { tag: assertTag(tag) };
  throw new UsageError(
    'name the target: --device ID (repeatable), --hardware-id HW or --tag TAG, one of them',
  );
}

async function policyOf(values: Record<string, unknown>): Promise<RolloutPolicyInput> {
  const file = values['policy'];
  const base = (typeof file === 'string' ? JSON.parse(await readFile(file, 'utf8')) : {}) as Record<
    string,
    unknown
  >;
  const number = (name: string) => {
    const value = values[name];
    if (value === undefined) return undefined;
    const parsed = Number(value);
    if (!Number.isFinite(parsed)) throw new UsageError(`--${name} must be a number`);
    return parsed;
  };
  const gate = { ...(base['gate'] as object | undefined) };
  const set = (target: Record<string, unknown>, key: string, value: unknown) => {
    if (value !== undefined) target[key] = value;
  };
  set(gate, 'minSample', number('min-sample'));
  set(gate, 'maxFailureRate', number('max-failure-rate'));
  set(gate, 'soakMs', number('soak'));
  const policy: Record<string, unknown> = { ...base, gate };
  set(policy, 'canary', number('canary'));
  set(policy, 'maxInFlight', number('max-in-flight'));
  set(policy, 'onBreach', values['on-breach']);
  if (values['offline'] !== undefined || values['offline-after'] !== undefined) {
    const offline: Record<string, unknown> = { ...(base['offline'] as object | undefined) };
    set(offline, 'action', values['offline']);
    set(offline, 'afterMs', number('offline-after'));
    policy['offline'] = offline;
  }
  if (typeof values['window'] === 'string') {
    policy['maintenanceWindow'] = {
      cron: values['window'],
      durationMs: number('window-duration') ?? WINDOW_DURATION_MS,
      ...(typeof values['window-timezone'] === 'string' ? { timezone: values['window-timezone'] } : {}),
    };
  }
  if (typeof values['waves'] === 'string')
    policy['waves'] = { percentages: values['waves'].split(',').map((p) => Number(p.trim())) };
  const parsed = rolloutPolicySchema.safeParse(policy);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UprollError('INVALID_INPUT', `policy: ${issue?.path.join('.') || 'policy'}: ${issue?.message}`);
  }
  return policy;
}

function requireId(positionals: string[]): string {
  const [rolloutId] = positionals;
  if (!rolloutId) throw new UsageError('name the ROLLOUT_ID');
  return rolloutId;
}

function preview(devices: readonly string[]): string {
  return devices.length <= 4 ? devices.join(' ') : `${devices.slice(0, 3).join(' ')} ... ${devices.at(-1)}`;
}

function printProgress(progress: RolloutProgress, io: Io): void {
  const { counts } = progress;
  io.out(`rollout ${progress.rolloutId} of ${progress.revision}: ${progress.status}`);
  for (const wave of progress.waves)
    io.out(
      `  wave ${wave.index}${wave.index === 0 ? ' (canary)' : ''}: ${String(wave.size).padStart(5)} devices  ${wave.state}`,
    );
  io.out(
    `  ${counts.committed} committed, ${counts.rolledBack} rolled back, ${counts.failed} failed, ${counts.skipped} skipped, ${counts.pending} pending (offline), ${counts.waitingForWindow} waiting for their window, ${counts.inFlight} in flight, of ${counts.total}`,
  );
  for (const failure of progress.failures) {
    // Device-reported: an unhealthy app's last output goes below, indented, without terminal escapes.
    const [first, ...output] = errorLines(failure.reason);
    io.out(`  ${oneLine(failure.deviceId)}  ${failure.outcome}  ${first}`);
    for (const line of output) io.out(`      ${line}`);
  }
}
