// The device agent (and a bare Node process, the baseline) as child processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const AGENT_BIN = fileURLToPath(new URL('../../bin/uproll-agent.js', import.meta.url));

/** How an agent is started: the command before its own arguments. */
export interface AgentLaunch {
  label: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
}

/** The agent from its TypeScript sources, type-stripped by this Node (bin/uproll-agent.js). */
export const SOURCE_AGENT: AgentLaunch = { label: 'source', command: process.execPath, args: [AGENT_BIN] };

/** The agent-only bundle, through its launcher (and its settings), on this Node. */
export function bundledAgent(launcher: string): AgentLaunch {
  return { label: 'bundle', command: launcher, args: [], env: { UPROLL_NODE: process.execPath } };
}
const READY = /^uproll-agent: (\S+) ready, control socket (.+)$/;
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

/** Children still running: killed on an interrupt of the benchmark. */
const live = new Set<ChildProcess>();

export interface ChildHandle {
  pid: number;
  /** The last lines the child wrote on stderr (for error messages). */
  stderrTail(): string;
  /** SIGTERM, then SIGKILL if it has not exited in time. Safe to call twice. */
  stop(): Promise<void>;
}

export interface AgentHandle extends ChildHandle {
  controlSocket: string;
}

/** Spawns `uproll-agent --no-cloud` as `launch` says and resolves once it reports ready. */
export async function spawnAgent(options: {
  launch: AgentLaunch;
  bundleDir: string;
  dataDir: string;
  installer: string;
  /** More arguments (e.g. a --config naming slots and a boot environment). */
  args?: readonly string[];
}): Promise<AgentHandle> {
  const { launch } = options;
  const env = { ...process.env, ...launch.env };
  delete env['UPROLL_AGENT_CRASH_AT']; // never inherit the crash tests' fault injection
  const child = start(
    launch.command,
    [
      ...launch.args,
      ...['--bundle', options.bundleDir, '--data-dir', options.dataDir],
      ...['--installer', options.installer, '--no-cloud'],
      ...(options.args ?? []),
    ],
    env,
  );
  const handle = handleOf(child);
  try {
    const controlSocket = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`uproll-agent was not ready in ${READY_TIMEOUT_MS} ms`)),
        READY_TIMEOUT_MS,
      );
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`uproll-agent exited (${signal ?? code}) before it was ready`));
      });
      onLine(child, (line) => {
        const match = READY.exec(line);
        if (match?.[2]) {
          clearTimeout(timer);
          resolve(match[2]);
        }
      });
    });
    return { ...handle, controlSocket };
  } catch (err) {
    await handle.stop();
    throw new Error(`${(err as Error).message}\n${handle.stderrTail()}`, { cause: err });
  }
}

/** A Node process that does nothing: what any Node program costs before its own code. */
export function spawnBareNode(): ChildHandle {
  return handleOf(start(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], process.env));
}

/** Kills every child still running, at once (the benchmark is being interrupted). */
export function killAllChildren(): void {
  for (const child of live) child.kill('SIGKILL');
}

function start(command: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not start ${command} ${args.join(' ')}`);
  return track(child);
}

/** Counts `child` among the children an interrupt kills. */
export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}

function handleOf(child: ChildProcess): ChildHandle {
  const tail: string[] = [];
  onLine(child, (line) => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
  });
  // `once` rejects on an 'error' event; either way the child is gone.
  const exited = once(child, 'exit').then(
    () => {},
    () => {},
  );
  return {
    pid: child.pid!,
    stderrTail: () => tail.join('\n'),
    async stop() {
      if (!live.has(child)) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

function onLine(child: ChildProcess, listener: (line: string) => void): void {
  let buffer = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\n'); end >= 0; end = buffer.indexOf('\n')) {
      listener(buffer.slice(0, end));
      buffer = buffer.slice(end + 1);
    }
  });
}
