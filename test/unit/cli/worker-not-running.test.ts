import { describe, expect, it } from 'vitest';
import { asWorkerNotRunning } from '../../../cli/worker-not-running.ts';

/** Temporal's client error for a failed query, with the server's answer as its cause (as seen). */
const queryFailed = (answer: string) =>
  Object.assign(new Error('Failed to query Workflow'), { cause: new Error(answer) });

describe('a query no worker answers', () => {
  it.each([
    // An ended rollout after `uproll demo`, its worker gone.
    '9 FAILED_PRECONDITION: no poller seen for task queue recently, worker may be down',
    // A running rollout whose task queue no worker polls.
    '4 DEADLINE_EXCEEDED: query timed out before a worker could process it',
  ])('is WORKER_NOT_RUNNING, naming what to start: %s', (answer) => {
    const mapped = asWorkerNotRunning(queryFailed(answer));
    expect(mapped).toMatchObject({ code: 'WORKER_NOT_RUNNING' });
    expect((mapped as Error).message).toMatch(/uproll serve.*uproll worker/);
  });

  it('leaves any other error as it was', () => {
    const other = queryFailed('5 NOT_FOUND: workflow not found');
    expect(asWorkerNotRunning(other)).toBe(other);
  });
});
