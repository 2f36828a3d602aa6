import { proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities/index.ts';
import type { DeviceUpdateResult } from './device-update.ts';

/** How a device update ended, as a later run of its rollout learns it. */
export type UpdateEnd =
  | { workflowId: string; result: DeviceUpdateResult }
  | { workflowId: string; failure: { code: string; message: string } };

/** A device update a run follows to its end without being its parent. */
export interface FollowedUpdate {
  workflowId: string;
  runId: string;
}

/**
 * A device a run was updating when it continued as new, handed to the next
 * run: with `running`, its update `attempt` is a child that runs on (its
 * parent close policy lets it), else that attempt is still to start.
 */
export interface HandedOver {
  deviceId: string;
  position?: number;
  attempt: number;
  running?: FollowedUpdate;
}

/** An empty answer comes back after this long, and the run asks again. */
const WAIT_MS = 30_000;

const { awaitUpdateEnds } = proxyActivities<activities.UprollActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

/**
 * The ends of device updates this run did not start (an earlier run did),
 * learnt by one activity for all of them at a time: a few history events
 * per batch of ends, none in the children.
 */
export class UpdateEnds {
  private readonly waiting = new Map<string, { update: FollowedUpdate; ended: (end: UpdateEnd) => void }>();
  private polling = false;

  wait(update: FollowedUpdate): Promise<UpdateEnd> {
    const ended = new Promise<UpdateEnd>((resolve) =>
      this.waiting.set(update.workflowId, { update, ended: resolve }),
    );
    if (!this.polling) void this.poll();
    return ended;
  }

  private async poll(): Promise<void> {
    this.polling = true;
    await Promise.resolve(); // the callers registering in one loop go in the first batch
    try {
      while (this.waiting.size > 0) {
        const updates = [...this.waiting.values()].map(({ update }) => update);
        for (const end of await awaitUpdateEnds(updates, WAIT_MS)) {
          this.waiting.get(end.workflowId)?.ended(end);
          this.waiting.delete(end.workflowId);
        }
      }
    } finally {
      this.polling = false;
    }
  }
}
