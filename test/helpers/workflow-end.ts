import type { WorkflowHandle } from '@temporalio/client';
import type { Workflow, WorkflowResultType } from '@temporalio/common';
import { eventually } from './eventually.ts';

/**
 * Workflow tasks failed in a row after which a workflow counts as stuck:
 * Temporal's own mark (`TemporalReportedProblems`) comes after five.
 */
const STUCK_AFTER_ATTEMPTS = 5;

/**
 * The workflow's result (across its continue-as-new runs), or a throw as
 * soon as its workflow task keeps failing, with the failure the task
 * reported (a payload over Temporal's size limit, a nondeterminism): such
 * a workflow never ends by itself, and a bare `result()` would only tell
 * after the test's timeout.
 */
export async function resultUnlessStuck<W extends Workflow>(
  handle: WorkflowHandle<W>,
  { timeoutMs }: { timeoutMs: number },
): Promise<WorkflowResultType<W>> {
  let ended: { result: WorkflowResultType<W> } | { error: unknown } | undefined;
  // Aborted once we know: a long poll left open retries against a closed connection.
  const waiting = new AbortController();
  handle.client
    .withAbortSignal(waiting.signal, () => handle.result())
    .then(
      (result) => (ended = { result }),
      (error: unknown) => (ended = { error }),
    );
  const outcome = await eventually(
    `${handle.workflowId} to end`,
    async () => {
      if (ended) return ended;
      const { runId, raw } = await handle.describe();
      const attempt = raw.pendingWorkflowTask?.attempt ?? 0;
      return attempt >= STUCK_AFTER_ATTEMPTS && { stuck: { runId, attempt } };
    },
    { timeoutMs, intervalMs: 500 },
  ).finally(() => waiting.abort());
  if ('result' in outcome) return outcome.result;
  if ('error' in outcome) throw outcome.error;
  const { events } = await handle.client.getHandle(handle.workflowId, outcome.stuck.runId).fetchHistory();
  const failed = events?.findLast((event) => event.workflowTaskFailedEventAttributes);
  const failure = failed?.workflowTaskFailedEventAttributes?.failure?.message ?? 'no failure recorded';
  throw new Error(
    `${handle.workflowId} is stuck: its workflow task (run ${outcome.stuck.runId}) failed ` +
      `${outcome.stuck.attempt} times in a row, the first time with: ${failure}`,
  );
}
