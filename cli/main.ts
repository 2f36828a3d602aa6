import { codedErrorOf } from './coded-errors.ts';
import { namedDeploymentOf } from './deployment.ts';
import { helpText, parseCommandArgs, processIo, UsageError, type Command, type Io } from './command.ts';
import { demo } from './commands/demo.ts';
import { devDown, devStatus, devUp } from './commands/dev.ts';
import { devRecordHistory } from './commands/dev-record-history.ts';
import { worker } from './commands/worker.ts';
import { serve } from './commands/serve.ts';
import { natsConfig, natsInit, natsPush } from './commands/nats.ts';
import {
  rolloutAbort,
  rolloutPause,
  rolloutPlan,
  rolloutResume,
  rolloutRetryFailed,
  rolloutRollback,
  rolloutStart,
  rolloutStatus,
  rolloutWatch,
} from './commands/rollout.ts';
import { keysAudit, keysInit, keysList } from './commands/keys.ts';
import { releasePublish, releaseRevision } from './commands/release.ts';
import { releaseOstree } from './commands/release-ostree.ts';
import { repoServe } from './commands/repo.ts';
import { devicesProvision, devicesRevoke } from './commands/devices.ts';
import { devicesList, devicesShow } from './commands/fleet-devices.ts';
import { rolloutList } from './commands/rollout-list.ts';
import { devicesTag } from './commands/device-tags.ts';
import { eventsRebuild, eventsTail } from './commands/events.ts';
import { apiServe, apiToken } from './commands/api.ts';
import { keysRevoke, keysTrustedBy, keysRotate } from './commands/key-ceremony.ts';
import {
  keysRootNewKey,
  keysRootPropose,
  keysRootPublish,
  keysRootSign,
  keysRootStatus,
} from './commands/root-ceremony.ts';

const COMMANDS: readonly Command[] = [
  devUp,
  devDown,
  devStatus,
  devRecordHistory,
  serve,
  natsInit,
  natsConfig,
  natsPush,
  worker,
  demo,
  keysInit,
  keysList,
  keysAudit,
  keysRotate,
  keysRevoke,
  keysTrustedBy,
  keysRootNewKey,
  keysRootPropose,
  keysRootSign,
  keysRootStatus,
  keysRootPublish,
  releasePublish,
  releaseRevision,
  releaseOstree,
  repoServe,
  devicesProvision,
  devicesRevoke,
  devicesList,
  devicesShow,
  devicesTag,
  rolloutPlan,
  rolloutStart,
  rolloutStatus,
  rolloutList,
  rolloutPause,
  rolloutResume,
  rolloutAbort,
  rolloutRollback,
  rolloutRetryFailed,
  rolloutWatch,
  eventsTail,
  eventsRebuild,
  apiToken,
  apiServe,
];

function overview(): string {
  return [
    'uproll: OTA updates and staged rollouts for fleets of Linux devices, on Temporal and NATS.',
    '',
    'Usage: uproll <command> [options]',
    '',
    'Commands:',
    ...commandLines(COMMANDS),
    '',
    'Run `uproll <command> --help` for the options of a command.',
  ].join('\n');
}

function commandLines(commands: readonly Command[]): string[] {
  return commands.map((c) => `  ${c.name.padEnd(21)} ${c.summary}`);
}

/** The commands of a group such as `keys` or `keys root`, when argv names one (help flags aside). */
function groupOf(argv: string[]): { name: string; commands: Command[] } | undefined {
  const words = argv.filter((word) => word !== '--help' && word !== '-h');
  if (words.length === 0) return undefined;
  const commands = COMMANDS.filter((c) => {
    const names = c.name.split(' ');
    return names.length > words.length && words.every((word, i) => names[i] === word);
  });
  return commands.length > 0 ? { name: words.join(' '), commands } : undefined;
}

function groupHelp(group: { name: string; commands: Command[] }): string {
  return [
    `Usage: uproll ${group.name} <command> [options]`,
    '',
    'Commands:',
    ...commandLines(group.commands),
    '',
    'Run `uproll <command> --help` for the options of a command.',
  ].join('\n');
}

/** Finds the longest command name that prefixes argv (`dev up` before `dev`). */
function findCommand(argv: string[]): { command: Command; rest: string[] } | undefined {
  for (const command of COMMANDS) {
    const words = command.name.split(' ');
    if (words.every((word, i) => argv[i] === word)) return { command, rest: argv.slice(words.length) };
  }
  return undefined;
}

/**
 * Runs the CLI and returns its exit status: 0 success, 1 a coded failure
 * (`uproll: CODE: message`), 2 a command line that cannot be understood.
 */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.out(overview());
    return argv.length === 0 ? 2 : 0;
  }
  const found = findCommand(argv);
  const group = found ? undefined : groupOf(argv);
  if (group) {
    // `uproll keys --help` lists the group; a bare `uproll keys` does too, as a usage error.
    if (argv.includes('--help') || argv.includes('-h')) {
      io.out(groupHelp(group));
      return 0;
    }
    io.err(`uproll: "${argv.join(' ')}" needs a command\n\n${groupHelp(group)}`);
    return 2;
  }
  if (!found) {
    io.err(`uproll: unknown command "${argv.join(' ')}"\n\n${overview()}`);
    return 2;
  }
  try {
    const args = parseCommandArgs(found.command, found.rest);
    if (args.values.help) {
      io.out(helpText(found.command));
      return 0;
    }
    await namedDeploymentOf(args.values); // half a deployment in the environment is refused before anything changes
    return await found.command.run(args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`uproll ${found.command.name}: ${err.message}\n\n${helpText(found.command)}`);
      return 2;
    }
    // Every failure is one coded line; where it came from only on request.
    const coded = codedErrorOf(err);
    const debug = process.env['UPROLL_DEBUG'] === '1';
    const hint = coded.code === 'INTERNAL_ERROR' && !debug ? ' (UPROLL_DEBUG=1 prints where it failed)' : '';
    io.err(`uproll: ${coded.code}: ${coded.message}${hint}`);
    if (debug) io.err(stackOf(err));
    return 1;
  }
}

/** The stack of an error and of its causes. */
function stackOf(err: unknown): string {
  const lines: string[] = [];
  for (
    let e: unknown = err;
    e !== undefined && lines.length < 10;
    e = e instanceof Error ? e.cause : undefined
  )
    lines.push(e instanceof Error ? (e.stack ?? e.message) : JSON.stringify(e));
  return lines.join('\ncaused by: ');
}
