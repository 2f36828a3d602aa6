import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { z } from 'zod';
import {
  planWaves,
  rolloutIdSchema,
  rolloutPolicySchema,
  rolloutTargetSchema,
  UprollError,
  type RolloutProgress,
} from '../../core/index.ts';
import { plannedDevices, requireReleased, type DirectorRepository } from '../director/index.ts';
import type { ImageRepository } from '../image-repo/index.ts';
import type { EventLog } from '../nats/index.ts';
import { ROLLOUT_VIEW_STATUSES, rolloutListRows, type RolloutView } from '../projections/index.ts';
import { rolloutHandle, startRollout } from '../temporal/index.ts';
import {
  abortRolloutUpdate,
  pauseRolloutUpdate,
  resumeRolloutUpdate,
  rolloutProgressQuery,
} from '../../workflows/rollout-messages.ts';
import { apiRoute, READERS, type ApiRoute } from './api-route.ts';

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
      z.object({ index: z.int(), size: z.int(), state: z.enum(['pending', 'running', 'finished']) }),
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

/**
 * Rollouts over HTTP, as the CLI runs them: the list from the rollout
 * projection, a rollout's progress and its controls from its workflow. A
 * control is a Temporal Update by the token's subject, which the rollout
 * records on the event log itself (with who asked).
 */
export function rolloutRoutes(deps: {
  temporal: Client;
  rollouts: () => Promise<Record<string, RolloutView>>;
  /** To plan and start rollouts: where the devices and the revisions are, and the log of ids used. */
  starts?: { director: DirectorRepository; image: ImageRepository; eventLog: EventLog; taskQueue?: string };
}): ApiRoute[] {
  const control = (verb: 'pause' | 'resume' | 'abort', update: typeof pauseRolloutUpdate) =>
    apiRoute({
      method: 'post',
      path: `/rollouts/{rolloutId}/${verb}`,
      summary: `${verb[0]!.toUpperCase()}${verb.slice(1)} a rollout (refused, with why, when it does not apply); its progress after.`,
      roles: ['release'],
      params: rolloutParams,
      response: progressSchema,
      handle: ({ params, caller }) =>
        ofRollout(
          new UprollError('COMMAND_REJECTED', `rollout ${params.rolloutId} has ended or does not exist`),
          () =>
            rolloutHandle(deps.temporal, params.rolloutId).executeUpdate(update, { args: [caller.subject] }),
        ),
    });
  const starts = deps.starts;
  return [
    ...(starts ? startRoutes(deps.temporal, starts) : []),
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
      summary: "A rollout's waves, counts and the devices that did not commit.",
      roles: READERS,
      params: rolloutParams,
      response: progressSchema,
      handle: ({ params }) =>
        ofRollout(new UprollError('ROLLOUT_NOT_FOUND', `no rollout ${params.rolloutId}`), () =>
          rolloutHandle(deps.temporal, params.rolloutId).query(rolloutProgressQuery),
        ),
    }),
    control('pause', pauseRolloutUpdate),
    control('resume', resumeRolloutUpdate),
    control('abort', abortRolloutUpdate),
  ];
}

const planBody = z
  .object({ target: rolloutTargetSchema, policy: rolloutPolicySchema.optional() })
  .strict()
  .meta({ id: 'RolloutPlanRequest' });
const planSchema = z
  .object({ policy: z.record(z.string(), z.unknown()), waves: z.array(z.array(z.string())) })
  .meta({ id: 'RolloutPlan', description: 'The waves, canary first, and the devices of each.' });

/** Plan (a dry run that changes nothing) and start, refused as `uproll rollout start` refuses. */
function startRoutes(temporal: Client, deps: NonNullable<Parameters<typeof rolloutRoutes>[0]['starts']>) {
  return [
    apiRoute({
      method: 'post',
      path: '/rollouts/plan',
      summary: 'Dry run: the waves a rollout of this target and policy would have. Changes nothing.',
      roles: READERS,
      body: planBody,
      response: planSchema,
      async handle({ body }) {
        const policy = rolloutPolicySchema.parse(body.policy ?? {});
        return { policy, waves: planWaves(await plannedDevices(deps.director, body.target), policy) };
      },
    }),
    apiRoute({
      method: 'post',
      path: '/rollouts',
      summary:
        "Start a staged rollout of a released revision, by the token's subject (refused: ROLLOUT_EXISTS, TARGET_NOT_FOUND, no device).",
      roles: ['release'],
      body: planBody.extend({ rolloutId: rolloutIdSchema, revision: z.string().min(1).max(128) }).strict(),
      response: z.object({ rolloutId: z.string(), workflowId: z.string() }),
      async handle({ body, caller }) {
        await requireReleased(deps.image, body.revision);
        await plannedDevices(deps.director, body.target);
        if (await deps.eventLog.hasEvents('rollout', body.rolloutId))
          throw new UprollError(
            'ROLLOUT_EXISTS',
            `rollout ${body.rolloutId} was started before: choose another id`,
          );
        const handle = await startRollout(
          temporal,
          {
            rolloutId: body.rolloutId,
            revision: body.revision,
            target: body.target,
            policy: body.policy ?? {},
            startedBy: caller.subject,
          },
          deps.taskQueue ? { taskQueue: deps.taskQueue } : {},
        );
        return { rolloutId: body.rolloutId, workflowId: handle.workflowId };
      },
    }),
  ];
}

/** Asks the rollout's workflow: `missing` when there is none to ask, COMMAND_REJECTED when it refused. */
async function ofRollout(
  missing: UprollError,
  ask: () => Promise<RolloutProgress>,
): Promise<RolloutProgress> {
  try {
    return await ask();
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError)
      throw new UprollError('COMMAND_REJECTED', err.cause?.message ?? err.message);
    if (err instanceof WorkflowNotFoundError) throw missing;
    throw err;
  }
}
