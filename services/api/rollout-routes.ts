import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { z } from 'zod';
import { rolloutIdSchema, UprollError } from '../../core/index.ts';
import {
  nextRollback,
  ROLLOUT_VIEW_STATUSES,
  rolloutListRows,
  withRollbackAfterEnd,
  type RolloutView,
} from '../projections/index.ts';
import { rolloutHandle, rolloutWorkflowId, startRollback } from '../temporal/index.ts';
import {
  abortRolloutUpdate,
  pauseRolloutUpdate,
  resumeRolloutUpdate,
  rollbackRolloutUpdate,
  rolloutProgressQuery,
} from '../../workflows/contracts.ts';
import { apiRoute, READERS, type ApiRoute } from './api-route.ts';
import { askRollout } from './ask-rollout.ts';
import type { RolloutStartDeps } from './rollout-start-routes.ts';

const rolloutParams = z.object({ rolloutId: rolloutIdSchema });

const countsSchema = z.object({ committed: z.int(), rolledBack: z.int(), failed: z.int() });

const rolloutRowSchema = z
  .object({
    rolloutId: z.string(),
    status: z.enum(ROLLOUT_VIEW_STATUSES),
    revision: z.string().nullable(),
    startedBy: z.string().nullable(),
    startedAt: z.string().nullable(),
    ...countsSchema.shape,
    skipped: z.int().nullable(),
  })
  .meta({ id: 'RolloutRow', description: 'A rollout as `uproll rollout list` shows it.' });

const progressSchema = z
  .object({
    rolloutId: z.string(),
    revision: z.string(),
    status: z.enum(['running', 'paused', 'completed', 'aborted', 'rolled_back']),
    policy: z.record(z.string(), z.unknown()),
    waves: z.array(
      z.object({
        index: z.int(),
        size: z.int(),
        state: z.enum(['pending', 'running', 'finished']),
        finished: z.int().describe('Its devices that committed, rolled back or failed.'),
      }),
    ),
    counts: countsSchema.extend({
      pending: z.int(),
      skipped: z.int(),
      waitingForWindow: z.int(),
      inFlight: z.int(),
      total: z.int(),
    }),
    failures: z.array(
      z.object({
        deviceId: z.string(),
        outcome: z.string(),
        reason: z.object({ code: z.string(), message: z.string() }),
      }),
    ),
  })
  .meta({ id: 'RolloutProgress', description: 'A rollout as `uproll rollout status` shows it.' });

const attemptSchema = z.object({
  attempt: z.int(),
  by: z.string(),
  startedAt: z.string(),
  state: z.enum(['running', 'finished']),
  devices: z.int(),
  counts: z.record(z.string(), z.int()).optional(),
  finishedAt: z.string().optional(),
});
const rolloutStatusSchema = progressSchema
  .extend({
    rollback: attemptSchema
      .extend({ attempts: z.array(attemptSchema), notBack: z.array(z.string()) })
      .optional()
      .describe(
        'Its rollback after it ended, from the event log: each attempt, and the devices not back yet.',
      ),
  })
  .meta({ id: 'RolloutStatus', description: 'A rollout as `uproll rollout status` shows it.' });

const rollbackStartedSchema = z
  .object({
    rolloutId: z.string(),
    during: z
      .enum(['run', 'after_end'])
      .describe(
        '`run`: the rollout was aborted and returns its devices itself; `after_end`: a rollback workflow does.',
      ),
    workflowId: z.string(),
    attempt: z.int(),
  })
  .meta({ id: 'RollbackStarted' });

/**
 * Rollouts over HTTP, as the CLI runs them: the list from the rollout
 * projection, a rollout's progress and its controls from its workflow. A
 * control is a Temporal Update by the token's subject, which the rollout
 * records on the event log itself (with who asked); so does the rollback of
 * one that has ended. Plans and starts are in rollout-start-routes.ts.
 */
export function rolloutRoutes(
  deps: RolloutStartDeps & { rollouts: () => Promise<Record<string, RolloutView>> },
): ApiRoute[] {
  const control = (verb: 'pause' | 'resume' | 'abort', update: typeof pauseRolloutUpdate) =>
    apiRoute({
      method: 'post',
      path: `/rollouts/{rolloutId}/${verb}`,
      summary: `${verb[0]!.toUpperCase()}${verb.slice(1)} a rollout (refused, with why, when it does not apply); its progress after.`,
      roles: ['release'],
      params: rolloutParams,
      response: progressSchema,
      handle: ({ params, caller }) =>
        askRollout(
          new UprollError('COMMAND_REJECTED', `rollout ${params.rolloutId} has ended or does not exist`),
          () =>
            rolloutHandle(deps.temporal, params.rolloutId).executeUpdate(update, { args: [caller.subject] }),
        ),
    });
  return [
    apiRoute({
      method: 'get',
      path: '/rollouts',
      summary: 'Every rollout, newest first, with its counts (from the rollout projection).',
      roles: READERS,
      query: z.object({ status: z.enum(ROLLOUT_VIEW_STATUSES).optional() }),
      response: z.array(rolloutRowSchema),
      handle: async ({ query }) => rolloutListRows(Object.values(await deps.rollouts()), query.status),
    }),
    apiRoute({
      method: 'get',
      path: '/rollouts/{rolloutId}',
      summary: "A rollout's waves, counts, the devices that did not commit, and its rollback after the end.",
      roles: READERS,
      params: rolloutParams,
      response: rolloutStatusSchema,
      async handle({ params }) {
        const progress = await askRollout(
          new UprollError('ROLLOUT_NOT_FOUND', `no rollout ${params.rolloutId}`),
          () => rolloutHandle(deps.temporal, params.rolloutId).query(rolloutProgressQuery),
        );
        // Temporal's rollout ended before its rollback; the event log knows what came after.
        return withRollbackAfterEnd(progress, await deps.eventLog.read('rollout', params.rolloutId));
      },
    }),
    control('pause', pauseRolloutUpdate),
    control('resume', resumeRolloutUpdate),
    control('abort', abortRolloutUpdate),
    apiRoute({
      method: 'post',
      path: '/rollouts/{rolloutId}/rollback',
      summary:
        'Return the devices a rollout committed to their previous revision: a running one is aborted and does it, one that ended is rolled back by `rollback/<id>`; `retry` asks again the devices that rollback could not return. Answers once it has begun (follow it with GET /rollouts/{rolloutId}).',
      roles: ['release'],
      params: rolloutParams,
      body: z.object({ retry: z.boolean().optional() }).strict().meta({ id: 'RollbackRequest' }),
      response: rollbackStartedSchema,
      async handle({ params, body, caller }) {
        const { rolloutId } = params;
        if (!body.retry) {
          const during = await rolloutHandle(deps.temporal, rolloutId)
            .executeUpdate(rollbackRolloutUpdate, { args: [caller.subject] })
            .then(
              (progress) => progress,
              (err: unknown) => {
                if (err instanceof WorkflowNotFoundError) return undefined; // it has ended
                if (err instanceof WorkflowUpdateFailedError)
                  throw new UprollError('COMMAND_REJECTED', err.cause?.message ?? err.message);
                throw err;
              },
            );
          if (during)
            return {
              rolloutId,
              during: 'run' as const,
              workflowId: rolloutWorkflowId(rolloutId),
              attempt: 1,
            };
        }
        const input = nextRollback(
          rolloutId,
          caller.subject,
          await deps.eventLog.read('rollout', rolloutId),
          body.retry === true,
        );
        const handle = await startRollback(
          deps.temporal,
          input,
          deps.taskQueue ? { taskQueue: deps.taskQueue } : {},
        );
        return {
          rolloutId,
          during: 'after_end' as const,
          workflowId: handle.workflowId,
          attempt: input.attempt ?? 1,
        };
      },
    }),
  ];
}
