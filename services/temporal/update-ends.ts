import { setTimeout as delay } from 'node:timers/promises';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { DeviceUpdateResult, FollowedUpdate, UpdateEnd } from '../../workflows/contracts.ts';
import type { ErrorInfo } from '../../core/index.ts';

/** How often visibility is asked which of the workflows have closed. */
const POLL_MS = 1000;
/** Workflow ids per visibility query: the query's text stays a few KB. */
const IDS_PER_QUERY = 100;

/**
 * Waits up to `waitMs` for any of these workflows to close and returns how
 * each that closed by then ended: at least one, unless none closed in time
 * (an empty list). One visibility query per second per hundred ids, then one
 * read of each closed one's result: a rollout's next run follows hundreds
 * of handed-over updates without holding a long poll for each.
 */
export async function awaitUpdateEnds(
  client: Client,
  updates: readonly FollowedUpdate[],
  waitMs: number,
): Promise<UpdateEnd[]> {
  const deadline = performance.now() + waitMs;
  for (;;) {
    const closed = await closedAmong(client, updates);
    if (closed.length > 0) return Promise.all(closed.map((update) => endOf(client, update)));
    const left = deadline - performance.now();
    if (left <= 0) return [];
    await delay(Math.min(POLL_MS, left));
  }
}

/** Those of the updates whose run closed (an id's earlier runs, say a `busy` one, do not count). */
async function closedAmong(client: Client, updates: readonly FollowedUpdate[]): Promise<FollowedUpdate[]> {
  const followed = new Map(updates.map((update) => [update.runId, update]));
  const closed = new Map<string, FollowedUpdate>();
  for (let from = 0; from < updates.length; from += IDS_PER_QUERY) {
    const ids = updates
      .slice(from, from + IDS_PER_QUERY)
      .map(({ workflowId }) => `'${workflowId.replaceAll("'", "\\'")}'`);
    const query = `WorkflowId IN (${ids.join(', ')}) AND ExecutionStatus != 'Running'`;
    for await (const { runId } of client.workflow.list({ query })) {
      const update = followed.get(runId);
      if (update) closed.set(runId, update);
    }
  }
  return [...closed.values()];
}

async function endOf(client: Client, { workflowId, runId }: FollowedUpdate): Promise<UpdateEnd> {
  try {
    const handle = client.workflow.getHandle<() => Promise<DeviceUpdateResult>>(workflowId, runId);
    return { workflowId, result: await handle.result() };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err; // the server's trouble, not the update's: asked again
    return { workflowId, failure: failureOf(err.cause) };
  }
}

/** As the rollout reads a child's failure: the code is the ApplicationFailure's type. */
function failureOf(cause: Error | undefined): ErrorInfo {
  if (cause instanceof ApplicationFailure)
    return { code: cause.type ?? 'INSTALL_FAILED', message: cause.message };
  return { code: 'INSTALL_FAILED', message: cause?.message ?? 'the device update failed' };
}
