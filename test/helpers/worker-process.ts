import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export const WORKER_READY_LINE = 'READY';

/** What worker-child.ts runs with: the stack, the repositories' directory and Director keys, the bundle file. */
export interface WorkerChildSettings {
  stateDir: string;
  reposDir: string;
  directorKeys: { targets: string; snapshot: string; timestamp: string };
  workflowBundlePath: string;
  /** The telemetry bridge's durable consumer, when the first process named its own (shared, not a second one). */
  bridgeConsumer?: string;
}

export interface WorkerProcess {
  pid: number;
  /** SIGKILL, a crash: resolves once it is gone. */
  kill(): Promise<void>;
}

/** Starts the fleet services and a rollout worker in a process of their own; resolves once it polls. */
export async function startWorkerProcess(settings: WorkerChildSettings): Promise<WorkerProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    [new URL('./worker-child.ts', import.meta.url).pathname],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, UPROLL_SIM_WORKER: JSON.stringify(settings) },
    },
  );
  const exited = once(child, 'exit');
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const ready = new Promise<void>((resolve) =>
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line === WORKER_READY_LINE) resolve();
    }),
  );
  await Promise.race([
    ready,
    exited.then(([code]) => {
      throw new Error(
        `the worker process exited with ${String(code)} before it polled:\n${stderr.join('\n')}`,
      );
    }),
  ]);
  return {
    pid: child.pid!,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
