import { z } from 'zod';
import {
  DEVICE_PHASES,
  deviceIdSchema,
  heartbeatAppSchema,
  tagSchema,
  UprollError,
  type DevicePresence,
} from '../../core/index.ts';
import { deviceTags, inventorySchema, type DirectorRepository } from '../director/index.ts';
import type { DeviceView } from '../projections/index.ts';
import { apiRoute, READERS, type ApiRoute } from './api-route.ts';

/** Devices one page lists by default, and at most. */
const PAGE = 1000;
const MAX_PAGE = 10_000;

/** What the device projection adds to a device listed: its phase and what it runs. */
const VIEW_FIELDS = ['phase', 'committedRevision', 'revision', 'rolloutId', 'revokedAt'] as const;

/** A device as the API lists it: the Director's record and tags, its heartbeats' and its projection's news. */
const deviceSchema = inventorySchema
  .extend({
    tags: z.array(z.string()),
    lastSeenAt: z.string().nullable().optional(),
    apps: z.array(heartbeatAppSchema).optional(),
    phase: z.string().optional().describe("its latest update's phase, from the device projection"),
    committedRevision: z.string().optional().describe('what it runs, by its last commit or signed report'),
    revision: z.string().optional().describe('the revision of its latest update'),
    rolloutId: z.string().optional(),
    revokedAt: z.string().optional(),
  })
  .meta({ id: 'Device' });

const listQuery = z.object({
  tag: tagSchema.optional().describe('devices in this group'),
  hardwareId: z.string().min(1).max(128).optional(),
  revision: z.string().min(1).max(128).optional().describe('devices that run this revision'),
  phase: z
    .enum(['started', 'commanded', ...DEVICE_PHASES])
    .optional()
    .describe('devices whose latest update is in this phase'),
  after: deviceIdSchema.optional().describe('the last device id of the page before'),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(PAGE),
});

/**
 * The devices the Director knows, sorted by id, a page at a time, filtered
 * by group, hardware, revision or phase. Revision and phase come from the
 * device projection, which the API reads only when it reaches the
 * deployment's NATS (`views`); asked for without it, they are refused.
 */
export function deviceListRoute(deps: {
  director: DirectorRepository;
  presence?: { of(deviceIds: readonly string[]): Promise<Record<string, DevicePresence>> };
  views?: () => Promise<Record<string, DeviceView>>;
}): ApiRoute {
  return apiRoute({
    method: 'get',
    path: '/devices',
    summary:
      'The devices the Director knows, sorted by id, a page at a time (`after`), by group, hardware id, revision or phase.',
    roles: READERS,
    query: listQuery,
    response: z.array(deviceSchema),
    async handle({ query }) {
      const byView = query.revision !== undefined || query.phase !== undefined;
      if (byView && !deps.views)
        throw new UprollError(
          'INVALID_INPUT',
          'revision and phase come from the device projection: this API does not reach the deployment NATS (serve it with --state-dir)',
        );
      const views = deps.views ? await deps.views() : {};
      const listed: z.input<typeof deviceSchema>[] = [];
      const all = (await deps.director.devices()).sort((a, b) => a.deviceId.localeCompare(b.deviceId));
      for (const device of all) {
        if (listed.length >= query.limit) break;
        if (query.after !== undefined && device.deviceId <= query.after) continue;
        if (query.hardwareId !== undefined && device.ecus[0]?.hardwareId !== query.hardwareId) continue;
        const view = views[device.deviceId];
        if (query.phase !== undefined && view?.phase !== query.phase) continue;
        if (query.revision !== undefined && view?.committedRevision !== query.revision) continue;
        const tags = await deviceTags(deps.director, device.deviceId);
        if (query.tag !== undefined && !tags.includes(query.tag)) continue;
        listed.push({ ...device, tags, ...pick(view) });
      }
      if (!deps.presence) return listed;
      const seen = await deps.presence.of(listed.map((d) => d.deviceId));
      return listed.map((d) => ({
        ...d,
        lastSeenAt: seen[d.deviceId]?.lastSeenAt ?? null,
        apps: seen[d.deviceId]?.apps ?? [],
      }));
    },
  });
}

function pick(view: DeviceView | undefined): Partial<Pick<DeviceView, (typeof VIEW_FIELDS)[number]>> {
  if (!view) return {};
  return Object.fromEntries(
    VIEW_FIELDS.flatMap((field) => (view[field] === undefined ? [] : [[field, view[field]]])),
  );
}
