import type { Client } from '@temporalio/client';
import { z } from 'zod';
import {
  devicesToRetry,
  planWaves,
  retryRolloutId,
  rolloutIdSchema,
  rolloutPolicySchema,
  rolloutTargetSchema,
  UprollError,
  type Clock,
  type RolloutPolicyInput,
  type RolloutTarget,
} from '../../core/index.ts';
import { plannedDevices, requireReleased, type DirectorRepository } from '../director/index.ts';
import type { ImageRepository } from '../image-repo/index.ts';
import type { EventLog } from '../nats/index.ts';
import { rolloutHandle, startRollout } from '../temporal/index.ts';
import { rolloutProgressQuery } from '../../workflows/contracts.ts';
import { apiRoute, READERS, type ApiRoute } from './api-route.ts';
import { askRollout } from './ask-rollout.ts';

/** Where a rollout's devices and revisions are, and the log of the ids used. */
export interface RolloutStartDeps {
  temporal: Client;
  director: DirectorRepository;
  image: ImageRepository;
  eventLog: EventLog;
  now: Clock;
  taskQueue?: string;
}

const planBody = z
  .object({ target: rolloutTargetSchema, policy: rolloutPolicySchema.optional() })
  .strict()
  .meta({ id: 'RolloutPlanRequest' });
const planSchema = z
  .object({ policy: z.record(z.string(), z.unknown()), waves: z.array(z.array(z.string())) })
  .meta({ id: 'RolloutPlan', description: 'The waves, canary first, and the devices of each.' });
const startedSchema = z.object({ rolloutId: z.string(), workflowId: z.string() });

/**
 * Plan (a dry run that changes nothing), start, and retry the devices a
 * rollout did not update, refused as `uproll rollout start` refuses.
 */
export function rolloutStartRoutes(deps: RolloutStartDeps): ApiRoute[] {
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
      response: startedSchema,
      handle: ({ body, caller }) =>
        checkedStart(deps, { ...body, policy: body.policy ?? {}, startedBy: caller.subject }),
    }),
    apiRoute({
      method: 'post',
      path: '/rollouts/{rolloutId}/retry-failed',
      summary:
        'Start a new rollout of the same revision over the devices of this one that failed, rolled back or were skipped (COMMAND_REJECTED when there is none).',
      roles: ['release'],
      params: z.object({ rolloutId: rolloutIdSchema }),
      body: z
        .object({ rolloutId: rolloutIdSchema.optional(), policy: rolloutPolicySchema.optional() })
        .strict()
        .meta({
          id: 'RetryFailedRequest',
          description: 'The new rollout: its id (a new one when absent) and policy.',
        }),
      response: startedSchema.extend({ retried: z.array(z.string()) }),
      async handle({ params, body, caller }) {
        const progress = await askRollout(
          new UprollError('ROLLOUT_NOT_FOUND', `no rollout ${params.rolloutId}`),
          () => rolloutHandle(deps.temporal, params.rolloutId).query(rolloutProgressQuery),
        );
        const devices = devicesToRetry(progress);
        if (devices.length === 0)
          throw new UprollError(
            'COMMAND_REJECTED',
            `rollout ${params.rolloutId} has no failed device to retry`,
          );
        const started = await checkedStart(deps, {
          rolloutId: body.rolloutId ?? retryRolloutId(params.rolloutId, deps.now().getTime()),
          revision: progress.revision,
          target: { devices },
          policy: body.policy ?? {},
          startedBy: caller.subject,
        });
        return { ...started, retried: devices };
      },
    }),
  ];
}

/** Starts a rollout once what `rollout start` checks holds: a released revision, some device, a new id. */
async function checkedStart(
  deps: RolloutStartDeps,
  input: {
    rolloutId: string;
    revision: string;
    target: RolloutTarget;
    policy: RolloutPolicyInput;
    startedBy: string;
  },
): Promise<z.infer<typeof startedSchema>> {
  await requireReleased(deps.image, input.revision);
  await plannedDevices(deps.director, input.target);
  if (await deps.eventLog.hasEvents('rollout', input.rolloutId))
    throw new UprollError(
      'ROLLOUT_EXISTS',
      `rollout ${input.rolloutId} was started before: choose another id`,
    );
  const handle = await startRollout(
    deps.temporal,
    input,
    deps.taskQueue ? { taskQueue: deps.taskQueue } : {},
  );
  return { rolloutId: input.rolloutId, workflowId: handle.workflowId };
}
