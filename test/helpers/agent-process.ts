import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

/** What the agent logs once its control socket answers and what a crash left is settled. */
const READY_LINE = ' ready, control socket ';
const STOP_GRACE_MS = 10_000;

export interface AgentProcessOptions {
  /** Added to the test's environment. */
  env?: NodeJS.ProcessEnv;
  /** UPROLL_AGENT_CRASH_AT: the agent SIGKILLs itself at that phase boundary. */
  crashAt?: string;
  /** Told every stderr line as it comes. */
  log?: (line: string) => void;
  /** Run this instead of `node bin/uproll-agent.js ARGV` (its first item the program). */
  command?: readonly string[];
}

/** `uproll-agent` in its own process, as a service manager starts it (from the repository root). */
export interface AgentProcess {
  child: ChildProcess;
  /** Every line it printed on stderr so far. */
  stderr: string[];
  /** Once it exited and its stderr is read to the end. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * Resolves once it logged that it is ready; rejects, with what it said,
   * if it exits first, unless it died of the crash `crashAt` asked for
   * (which may come at start, while it settles a trial).
   */
  ready(): Promise<AgentProcess>;
  /** SIGTERM, as systemd stops it for a reboot; resolves once it exited. */
  stop(): Promise<void>;
  /** Stops it if it still runs (for afterEach): SIGTERM, then SIGKILL if it does not go. */
  kill(): Promise<void>;
}

/** Starts `node bin/uproll-agent.js ARGV`; await `ready()` before sending it anything. */
export function startAgentProcess(argv: readonly string[], options: AgentProcessOptions = {}): AgentProcess {
  const [program, ...args] = options.command ?? [process.execPath, 'bin/uproll-agent.js', ...argv];
  const child = spawn(program!, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      ...options.env,
      ...(options.crashAt ? { UPROLL_AGENT_CRASH_AT: options.crashAt } : {}),
    },
  });
  const stderr: string[] = [];
  let sawReady: () => void = () => {};
  const readyLine = new Promise<void>((resolve) => (sawReady = resolve));
  createInterface({ input: child.stderr }).on('line', (line) => {
    stderr.push(line);
    options.log?.(line);
    if (line.includes(READY_LINE)) sawReady();
  });
  const exited = once(child, 'close').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const running = () => child.exitCode === null && child.signalCode === null;
  const agent: AgentProcess = {
    child,
    stderr,
    exited,
    ready: () => ready,
    async stop() {
      if (running()) child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      if (!running()) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS)))]);
      clearTimeout(timer);
      if (running()) child.kill('SIGKILL');
      await exited;
    },
  };
  const ready: Promise<AgentProcess> = Promise.race([
    readyLine.then(() => agent),
    exited.then(({ code, signal }) => {
      if (stderr.some((line) => line.includes(READY_LINE))) return agent;
      if (options.crashAt && signal === 'SIGKILL') return agent;
      throw new Error(
        `uproll-agent exited (${signal ?? `status ${code}`}) before it was ready; it said: ${stderr.join(' | ')}`,
      );
    }),
  ]);
  ready.catch(() => {}); // a test that never asks (e.g. the agent is meant to refuse) leaves no unhandled rejection
  return agent;
}
