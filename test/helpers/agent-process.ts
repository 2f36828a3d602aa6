import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

/** `uproll-agent` in its own process, as a service manager starts it, with what it printed on stderr. */
export interface AgentProcess {
  child: ChildProcess;
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Stops it if it still runs (for afterEach): SIGTERM, which an entry point passes on to a child Node, then SIGKILL. */
  kill(): Promise<void>;
}

/** Starts `node bin/uproll-agent.js ARGV`, or `command` instead when given (its first item the program). */
export function spawnAgent(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = {},
  command: readonly string[] = [process.execPath, 'bin/uproll-agent.js', ...argv],
): AgentProcess {
  const [program, ...args] = command;
  const child = spawn(program!, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  const stderr: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
  const exited = once(child, 'close').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  return {
    child,
    stderr,
    exited,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * `uproll-agent` in its own process (from the repository root), resolved
 * once it is ready for commands. `crashAt` sets UPROLL_AGENT_CRASH_AT: the
 * agent SIGKILLs itself at that phase boundary (then it may die before it is
 * ready: resolved all the same). `log` gets its stderr lines.
 */
export async function startAgentProcess(
  args: readonly string[],
  options: { crashAt?: string; log?: (line: string) => void } = {},
) {
  const child = spawn(process.execPath, ['bin/uproll-agent.js', ...args], {
    env: { ...process.env, ...(options.crashAt ? { UPROLL_AGENT_CRASH_AT: options.crashAt } : {}) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const lines = createInterface({ input: child.stderr });
  const seen: string[] = [];
  const handle = {
    child,
    exited,
    /** SIGTERM, as systemd stops it for a reboot; resolves once it exited. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
  for await (const line of lines) {
    seen.push(line);
    options.log?.(line);
    if (line.includes(' ready, control socket ')) {
      lines.on('line', (more) => options.log?.(more));
      return handle;
    }
  }
  // A crash the test asked for may come at start, while the agent settles a trial.
  if (options.crashAt && (await exited)[1] === 'SIGKILL') return handle;
  throw new Error(
    `uproll-agent exited before it was ready: ${String(await exited)}; it said: ${seen.join(' | ')}`,
  );
}

export type ReadyAgentProcess = Awaited<ReturnType<typeof startAgentProcess>>;
