import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { deviceIdSchema, UprollError } from '../../core/index.ts';
import type { EventLog, StoredEvent } from '../nats/index.ts';
import { readDeviceView, readEvents, type ProjectionBuckets } from '../projections/index.ts';
import { apiRoute, READERS, type ApiRoute } from './api-route.ts';

const MAX_PAGE = 1000;
/** A device's timeline: its latest events at most. */
const TIMELINE = 200;

const storedEventSchema = z
  .object({
    sequence: z.int(),
    event: z.object({
      aggregate: z.enum(['device', 'rollout', 'repository', 'api']),
      aggregateId: z.string(),
      type: z.string(),
      at: z.string(),
      data: z.unknown(),
    }),
  })
  .meta({ id: 'StoredEvent' });

/**
 * The audit trail and a device's history over HTTP: events from the log,
 * paged by stream sequence, and a device with its timeline.
 */
export function eventRoutes(deps: {
  nc: NatsConnection;
  eventLog: EventLog;
  buckets?: ProjectionBuckets;
}): ApiRoute[] {
  return [
    apiRoute({
      method: 'get',
      path: '/events',
      summary: 'The event log, oldest first, a page at a time: every change with who made it.',
      roles: READERS,
      query: z.object({
        aggregate: z.enum(['device', 'rollout', 'repository', 'api']).optional(),
        id: deviceIdSchema.optional().describe('with aggregate: the events of one device, rollout, ...'),
        from: z.coerce.number().int().min(1).default(1).describe('the first stream sequence to read'),
        limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(100),
      }),
      response: z
        .object({
          events: z.array(storedEventSchema),
          next: z.int().nullable().describe('the `from` of the next page; null at the end of the log'),
        })
        .meta({ id: 'EventPage' }),
      async handle({ query }) {
        if (query.id !== undefined && query.aggregate === undefined)
          throw new UprollError('INVALID_INPUT', 'the query is invalid: id needs an aggregate');
        const filter =
          query.aggregate === undefined ? undefined : `uproll.evt.${query.aggregate}.${query.id ?? '*'}`;
        const events: StoredEvent[] = [];
        // One more than a page: whether there is a next one.
        for await (const stored of readEvents(deps.nc, {
          fromSequence: query.from,
          ...(filter ? { filter } : {}),
        })) {
          events.push(stored);
          if (events.length > query.limit) break;
        }
        const more = events.length > query.limit;
        const page = events.slice(0, query.limit);
        return { events: page, next: more ? page.at(-1)!.sequence + 1 : null };
      },
    }),
    apiRoute({
      method: 'get',
      path: '/devices/{deviceId}',
      summary:
        'One device as the projections know it, with its latest events (update phases, reports, tags).',
      roles: READERS,
      params: z.object({ deviceId: deviceIdSchema }),
      response: z
        .object({
          device: z.record(z.string(), z.unknown()).nullable(),
          timeline: z.array(storedEventSchema),
        })
        .meta({ id: 'DeviceHistory' }),
      async handle({ params }) {
        const [device, events] = await Promise.all([
          readDeviceView(deps.nc, params.deviceId, deps.buckets),
          deps.eventLog.read('device', params.deviceId),
        ]);
        if (!device && events.length === 0)
          throw new UprollError(
            'DEVICE_NOT_FOUND',
            `no device ${params.deviceId} in the projections or the log`,
          );
        return { device: device ? { ...device } : null, timeline: events.slice(-TIMELINE) };
      },
    }),
  ];
}
