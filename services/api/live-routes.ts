import { once } from 'node:events';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import type { OnlineCounts } from '../nats/index.ts';
import {
  readFleetView,
  readProjections,
  watchProjections,
  type DeviceView,
  type ProjectionBuckets,
} from '../projections/index.ts';
import { apiRoute, apiStream, READERS, type ApiRoute, type ApiStream } from './api-route.ts';

const KINDS = ['rollouts', 'devices', 'fleet'] as const;
/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;

const fleetSchema = z
  .object({
    devices: z.int().describe('devices the projections know'),
    revisions: z
      .record(z.string(), z.int())
      .describe('revision -> devices whose last committed revision it is'),
    phases: z.record(z.string(), z.int()).describe("phase of each device's latest update -> devices"),
    online: z.int().optional().describe('devices heard of (a heartbeat) within the last five minutes'),
    offline: z.int().optional().describe('devices heard of before, but not within the last five minutes'),
  })
  .meta({ id: 'Fleet' });

/** Devices the projections know, and how many are in each phase of their latest update. */
export interface DevicesByPhase {
  devices: number;
  phases: Record<string, number>;
}

/** What a process that follows the fleet (FleetMetrics) knows of it without reading anything. */
export interface FollowedFleet {
  online(): OnlineCounts;
  devicesByPhase(): DevicesByPhase;
}

/**
 * The fleet at a glance, and the projections live: what the dashboard shows
 * and how it follows changes without polling (fed by the projector's KV writes).
 */
export function liveRoutes(deps: {
  nc: NatsConnection;
  buckets?: ProjectionBuckets;
  /** The fleet as this process follows it, if it does: then a call reads one key, at any fleet size. */
  followed?: FollowedFleet;
}): {
  routes: ApiRoute[];
  streams: ApiStream[];
} {
  return {
    routes: [
      apiRoute({
        method: 'get',
        path: '/fleet',
        summary:
          'The fleet at a glance: devices, the revisions they run, the phases of their latest updates.',
        roles: READERS,
        response: fleetSchema,
        async handle() {
          const followed = deps.followed;
          if (followed) {
            const fleet = await readFleetView(deps.nc, deps.buckets);
            return { ...followed.devicesByPhase(), revisions: fleet.revisions, ...followed.online() };
          }
          const { devices, fleet } = await readProjections(deps.nc, deps.buckets);
          return {
            devices: Object.keys(devices).length,
            revisions: fleet.revisions,
            phases: phasesOf(devices),
          };
        },
      }),
    ],
    streams: [
      apiStream({
        method: 'get',
        path: '/live',
        summary:
          'Server-sent events: each rollout, device or fleet view as the projector stores it (event: rollout, device, fleet).',
        roles: READERS,
        query: z.object({
          kinds: z
            .string()
            .regex(
              /^(rollouts|devices|fleet)(,(rollouts|devices|fleet))*$/,
              'a comma list of rollouts, devices, fleet',
            )
            .optional()
            .describe('which views to follow (default all)'),
        }),
        async open({ query }, send, signal) {
          const kinds = query.kinds ? KINDS.filter((k) => query.kinds!.split(',').includes(k)) : KINDS;
          const watching = await watchProjections(
            deps.nc,
            kinds,
            (change) => void send(change.kind.replace(/s$/, ''), change.value).catch(() => {}),
            deps.buckets,
          );
          const keepalive = setInterval(() => void send('ping', {}).catch(() => {}), KEEPALIVE_MS);
          try {
            if (!signal.aborted) await once(signal, 'abort');
          } finally {
            clearInterval(keepalive);
            watching.stop();
          }
        },
      }),
    ],
  };
}

function phasesOf(devices: Record<string, DeviceView>): Record<string, number> {
  const phases: Record<string, number> = {};
  for (const view of Object.values(devices)) {
    const phase = view.phase ?? 'none';
    phases[phase] = (phases[phase] ?? 0) + 1;
  }
  return phases;
}
