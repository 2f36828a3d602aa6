import type { NatsConnection } from '@nats-io/transport-node';
import type { Client } from '@temporalio/client';
import type { DirectorRepository } from '../director/index.ts';
import type { ImageRepository } from '../image-repo/index.ts';
import type { EventLog } from '../nats/index.ts';
import { readRolloutViews, type ProjectionBuckets } from '../projections/index.ts';
import type { ApiRoute, ApiStream } from './api-route.ts';
import { eventRoutes } from './event-routes.ts';
import { liveRoutes } from './live-routes.ts';
import { rolloutRoutes } from './rollout-routes.ts';

/**
 * The routes that need the deployment's Temporal and NATS: rollouts (list,
 * status, plan, start, controls), the fleet and its live views, the event log.
 */
export function fleetRoutes(deps: {
  temporal: Client;
  nc: NatsConnection;
  eventLog: EventLog;
  director: DirectorRepository;
  image: ImageRepository;
  taskQueue?: string;
  /** Projection buckets other than the default ones (tests). */
  buckets?: ProjectionBuckets;
}): { routes: ApiRoute[]; streams: ApiStream[] } {
  const { temporal, nc, eventLog, director, image, buckets } = deps;
  const live = liveRoutes({ nc, ...(buckets ? { buckets } : {}) });
  return {
    routes: [
      ...rolloutRoutes({
        temporal,
        rollouts: () => readRolloutViews(nc, buckets),
        starts: { director, image, eventLog, ...(deps.taskQueue ? { taskQueue: deps.taskQueue } : {}) },
      }),
      ...live.routes,
      ...eventRoutes({ nc, eventLog, ...(buckets ? { buckets } : {}) }),
    ],
    streams: live.streams,
  };
}
