// The cheapest per-device Temporal work, for bench:rollout's floor: a parent
// that runs N children, at most `maxInFlight` at once, each of which starts,
// takes one signal from outside and completes. Bundled on its own, apart from
// the product's workflows.
import {
  condition,
  defineSignal,
  proxySinks,
  setHandler,
  startChild,
  type Sinks,
} from '@temporalio/workflow';

/** The signal each child waits for, sent from outside (as the telemetry bridge signals a device update). */
export const floorGoSignal = defineSignal('floorGo');

/** How a child tells the bench it runs (no history event, unlike an activity). */
export interface FloorSinks extends Sinks {
  floor: { started(): void };
}

export interface FloorInput {
  children: number;
  maxInFlight: number;
  /** Child workflow ids are `<prefix>-<index>`. */
  prefix: string;
}

/** Runs the children, `maxInFlight` at a time; resolves to how many completed. */
export async function floorParentWorkflow(input: FloorInput): Promise<number> {
  let next = 0;
  let completed = 0;
  const lane = async () => {
    while (next < input.children) {
      const workflowId = `${input.prefix}-${next++}`;
      const child = await startChild(floorChildWorkflow, { workflowId });
      await child.result();
      completed += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(input.maxInFlight, input.children) }, lane));
  return completed;
}

/** Starts, waits for one signal, completes. */
export async function floorChildWorkflow(): Promise<void> {
  let signalled = false;
  setHandler(floorGoSignal, () => void (signalled = true));
  proxySinks<FloorSinks>().floor.started();
  await condition(() => signalled);
}
