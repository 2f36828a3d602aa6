import { TASK_QUEUE } from '../services/temporal/index.ts';
import { UsageError, type OptionSpec } from './command.ts';

/** `--task-queue`: the deployment's Temporal task queue, for its workers and every command that starts a workflow. */
export const taskQueueOption = {
  'task-queue': {
    type: 'string',
    description: `Temporal task queue of the deployment (default $UPROLL_TASK_QUEUE or ${TASK_QUEUE})`,
  },
} satisfies Record<string, OptionSpec>;

const TASK_QUEUE_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * The task queue: `--task-queue`, else `$UPROLL_TASK_QUEUE`, else `uproll`.
 * Deployments sharing a Temporal namespace each name their own, so that
 * their workers never take each other's tasks.
 */
export function taskQueueOf(values: Record<string, unknown>): string {
  const given = values['task-queue'];
  const name = typeof given === 'string' ? given : (process.env['UPROLL_TASK_QUEUE'] ?? TASK_QUEUE);
  if (!TASK_QUEUE_PATTERN.test(name))
    throw new UsageError(`the task queue must be 1-128 of A-Z a-z 0-9 . _ -, got ${JSON.stringify(name)}`);
  return name;
}
