import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

/** `node bin/uproll.js ...` in its own process, with what it printed so far on each stream. */
export interface CliProcess {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** Resolves with the exit code (or the signal that ended it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the `uproll` command as an operator would, from the repository root. */
export function spawnUproll(argv: readonly string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, ['bin/uproll.js', ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  return watchProcess(child);
}

/** Collects the lines a started process prints on those of stdout and stderr that are piped to us. */
export function watchProcess(child: ChildProcess): CliProcess {
  const stdout: string[] = [];
  const stderr: string[] = [];
  if (child.stdout) createInterface({ input: child.stdout }).on('line', (line) => stdout.push(line));
  if (child.stderr) createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
  // 'close' comes after both streams ended, so every line is in by then.
  const exited = once(child, 'close').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  return { child, stdout, stderr, exited };
}

/** Runs the `uproll` command in its own process to its end: its exit status and what it printed. */
export async function runUproll(argv: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const cli = spawnUproll(argv, env);
  const { code } = await cli.exited;
  return { status: code, stdout: cli.stdout.join('\n'), stderr: cli.stderr.join('\n') };
}
