import { ActivityFailure, ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type * as activities from '../activities/index.ts';

const { keepMetadataFresh } = proxyActivities<activities.UprollActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 3, initialInterval: '10 seconds' },
});
const { recordEvent } = proxyActivities<activities.UprollActivities>({ startToCloseTimeout: '10 seconds' });

/**
 * One run of the freshness job, started by the `metadata-freshness`
 * Schedule: re-sign what nears expiry. A run that fails raises an alert
 * event on the event log before it fails, so a missed refresh is seen long
 * before any metadata expires.
 */
export async function metadataFreshnessWorkflow(): Promise<unknown> {
  try {
    return await keepMetadataFresh();
  } catch (err) {
    const { workflowId, runId } = workflowInfo();
    const cause: unknown = err instanceof ActivityFailure && err.cause ? err.cause : err;
    const message = cause instanceof Error ? cause.message : String(cause);
    await recordEvent(
      {
        aggregate: 'repository',
        aggregateId: 'metadata',
        type: 'repository.freshness.missed',
        at: new Date().toISOString(),
        data: { workflowId, runId, error: message },
      },
      `${workflowId}/${runId}/freshness-missed`,
    );
    throw ApplicationFailure.nonRetryable(
      `the metadata freshness job failed: ${message}`,
      'FRESHNESS_MISSED',
    );
  }
}
