import type { NatsConnection } from '@nats-io/transport-node';
import type { Client } from '@temporalio/client';
import type { Clock } from '../../core/index.ts';
import type { DirectorRepository } from '../director/index.ts';
import type { ImageRepository } from '../image-repo/index.ts';
import type { EventLog } from '../nats/index.ts';
import { readRolloutViews, type ProjectionBuckets } from '../projections/index.ts';
import type { ApiRoute, ApiStream } from './api-route.ts';
import { eventRoutes } from './event-routes.ts';
import { liveRoutes, type FollowedFleet } from './live-routes.ts';
import { rolloutRoutes } from './rollout-routes.ts';
import { rolloutStartRoutes } from './rollout-start-routes.ts';

/**
 * The routes that need the deployment's Temporal and NATS: rollouts (list,
 * status, plan, start, controls, rollback, retry), the fleet and its live views, the event log.
 */
export function fleetRoutes(deps: {
  temporal: Client;
  nc: NatsConnection;
  eventLog: EventLog;
  director: DirectorRepository;
  image: ImageRepository;
  now: Clock;
  taskQueue?: string;
  /** The fleet as this process follows it (FleetMetrics), if it does. */
  followed?: FollowedFleet;
  /** Projection buckets other than the default ones (tests). */
  buckets?: ProjectionBuckets;
}): { routes: ApiRoute[]; streams: ApiStream[] } {
  const { temporal, nc, eventLog, director, image, buckets } = deps;
  const rollouts = {
    temporal,
    director,
    image,
    eventLog,
    now: deps.now,
    ...(deps.taskQueue ? { taskQueue: deps.taskQueue } : {}),
  };
  const live = liveRoutes({
    nc,
    ...(buckets ? { buckets } : {}),
    ...(deps.followed ? { followed: deps.followed } : {}),
  });
  return {
    routes: [
      ...rolloutStartRoutes(rollouts),
      ...rolloutRoutes({ ...rollouts, rollouts: () => readRolloutViews(nc, buckets) }),
      ...live.routes,
      ...eventRoutes({ nc, eventLog, ...(buckets ? { buckets } : {}) }),
    ],
    streams: live.streams,
  };
}
