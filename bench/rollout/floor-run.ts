// The floor of bench:rollout: the cheapest per-device Temporal work on the same
// stack (a child workflow that starts, takes one signal and completes), timed
// and measured like a rollout, so a rollout's cost reads as a multiple of it.
import { randomBytes } from 'node:crypto';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { BenchStack } from './bench-stack.ts';
import { floorGoSignal, floorParentWorkflow, type FloorSinks } from './floor/workflows.ts';
import { UsageMonitor, type ProcessUsage } from './process-usage.ts';
import { monotonicUs } from './rollout-run.ts';
import { bundleWorkflows, uprollWorkerTuning } from '../../services/temporal/index.ts';

const FLOOR_WORKFLOWS_PATH = new URL('./floor/workflows.ts', import.meta.url).pathname;

export interface FloorFigures {
  children: number;
  maxInFlight: number;
  completed: number;
  seconds: number;
  /** Wall time per child (seconds / children), in ms: the inverse of the rate. */
  wallMsPerChild: number;
  childrenPerSecond: number;
  processes: Record<keyof BenchStack['pids'], ProcessUsage>;
  /** When it ran, in µs of the monotonic clock: the window of a --cpu-prof profile. */
  windowUs: [number, number];
}

/** Bundles the floor's workflows once (apart from the product's). */
export function bundleFloorWorkflows(): Promise<string> {
  return bundleWorkflows(FLOOR_WORKFLOWS_PATH);
}

/**
 * Runs `children` floor children, `maxInFlight` at once, on a worker of their
 * own (its own task queue, the product worker's tuning) in this process, each
 * signalled by this process's Temporal client as soon as it runs. CPU and
 * memory of every process are taken over the run, as for a rollout.
 */
export async function runFloor(
  stack: BenchStack,
  options: { bundle: string; children: number; maxInFlight: number; timeoutMs: number },
): Promise<FloorFigures> {
  const { client } = stack.services;
  const id = `bench-floor-${randomBytes(4).toString('hex')}`;
  const signals = new Set<Promise<unknown>>();
  const connection = await NativeConnection.connect({ address: stack.services.addresses.temporal });
  const sinks = {
    floor: {
      started: {
        fn: (info: { workflowId: string }) => {
          const sent = client.workflow
            .getHandle(info.workflowId)
            .signal(floorGoSignal)
            .finally(() => signals.delete(sent));
          signals.add(sent);
        },
        callDuringReplay: false,
      },
    },
  } satisfies Record<keyof FloorSinks, unknown>;
  const worker = await Worker.create({
    connection,
    taskQueue: id,
    workflowBundle: { code: options.bundle },
    sinks,
    ...uprollWorkerTuning,
  });
  const running = worker.run();
  try {
    const usage = new UsageMonitor(stack.pids);
    await usage.start();
    const startedUs = monotonicUs();
    const started = performance.now();
    const handle = await client.workflow.start(floorParentWorkflow, {
      taskQueue: id,
      workflowId: id,
      args: [{ children: options.children, maxInFlight: options.maxInFlight, prefix: id }],
      workflowExecutionTimeout: options.timeoutMs,
    });
    const completed = await handle.result();
    const seconds = (performance.now() - started) / 1000;
    const windowUs: [number, number] = [startedUs, monotonicUs()];
    const processes = await usage.stop();
    return {
      children: options.children,
      maxInFlight: options.maxInFlight,
      completed,
      seconds,
      wallMsPerChild: (1000 * seconds) / options.children,
      childrenPerSecond: options.children / seconds,
      processes,
      windowUs,
    };
  } finally {
    await Promise.allSettled([...signals]);
    worker.shutdown();
    await running;
    await connection.close();
  }
}
