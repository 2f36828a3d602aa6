import { parseArgs } from 'node:util';
import { UprollError } from '../core/index.ts';
import { outputClosed } from './closed-pipe.ts';

/** Where the CLI writes; tests pass their own. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Aborts once nobody reads `out` any more (`| head` quit): a command that only follows stops. */
  outputClosed?: AbortSignal;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  outputClosed,
};

/** A command-line option with the help line that explains it. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** May be given several times; the value is then an array. */
  multiple?: boolean;
  description: string;
}

/** One `uproll` command: its help text, its options and what it does. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Extra help after the options. */
  details?: string;
  options: Record<string, OptionSpec>;
  run(args: { values: Record<string, unknown>; positionals: string[] }, io: Io): Promise<number>;
}

/** Options every command takes. */
export const commonOptions: Record<string, OptionSpec> = {
  'state-dir': {
    type: 'string',
    description: 'local stack state directory (default $UPROLL_STATE_DIR or ./.uproll)',
  },
  json: { type: 'boolean', description: 'print machine-readable JSON instead of text' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

/** Thrown for a command line that cannot be understood; exits with status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseCommandArgs(command: Command, argv: string[]) {
  try {
    const options = Object.fromEntries(
      Object.entries({ ...commonOptions, ...command.options }).map(([name, { type, short, multiple }]) => [
        name,
        { type, ...(short ? { short } : {}), ...(multiple ? { multiple } : {}) },
      ]),
    );
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function helpText(command: Command): string {
  const options = Object.entries({ ...command.options, ...commonOptions }).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'string' ? ' <value>' : ''}`;
    return `  ${flag.padEnd(32)} ${spec.description}`;
  });
  return [
    `${command.summary}\n`,
    `Usage: ${command.usage}\n`,
    'Options:',
    ...options,
    ...(command.details ? ['', command.details] : []),
  ].join('\n');
}

export function stateDirOf(values: Record<string, unknown>): string {
  const value = values['state-dir'];
  return typeof value === 'string' ? value : (process.env.UPROLL_STATE_DIR ?? '.uproll');
}

/** Parses a port option, or undefined when it was not given. */
export function portOption(values: Record<string, unknown>, name: string): number | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UprollError(
      'INVALID_INPUT',
      `--${name} must be a port number from 1 to 65535, got ${JSON.stringify(value)}`,
    );
  }
  return port;
}
