import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { TASK_QUEUE } from './worker.ts';

export const FRESHNESS_SCHEDULE_ID = 'metadata-freshness';

/** The freshness Schedule of the deployment on `taskQueue`: one per deployment on a namespace. */
export function freshnessScheduleId(taskQueue = TASK_QUEUE): string {
  return taskQueue === TASK_QUEUE ? FRESHNESS_SCHEDULE_ID : `${FRESHNESS_SCHEDULE_ID}/${taskQueue}`;
}

/**
 * The Schedule that runs the metadata freshness job: every hour by default,
 * never two runs at once. Creating it again is a no-op.
 */
export async function ensureFreshnessSchedule(
  client: Client,
  options: { every?: string; taskQueue?: string; scheduleId?: string } = {},
): Promise<void> {
  try {
    await client.schedule.create({
      scheduleId: options.scheduleId ?? freshnessScheduleId(options.taskQueue),
      spec: { intervals: [{ every: options.every ?? '1 hour' }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'metadataFreshnessWorkflow',
        taskQueue: options.taskQueue ?? TASK_QUEUE,
        args: [],
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
}
