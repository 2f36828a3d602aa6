import { z } from 'zod';
import { deviceIdSchema, MAX_TAGS_PER_DEVICE, tagChange, tagSchema } from '../../core/index.ts';
import { deviceTags, tagDevice, type DirectorRepository } from '../director/index.ts';
import { apiRoute, READERS, type ApiRoute } from './api-route.ts';

const tagList = z.array(tagSchema).max(MAX_TAGS_PER_DEVICE);

/**
 * Groups: the tags devices carry, and a device's tags changed as
 * `uproll devices tag` changes them (a `device.tagged` event by the caller).
 * `rollout start --tag` and `GET /devices?tag=` name a group.
 */
export function tagRoutes(deps: { director: DirectorRepository }): ApiRoute[] {
  return [
    apiRoute({
      method: 'get',
      path: '/tags',
      summary: 'Every tag (group) a device carries, with how many devices carry it.',
      roles: READERS,
      response: z.array(z.object({ tag: z.string(), devices: z.int() }).meta({ id: 'TagRow' })),
      async handle() {
        const counts = new Map<string, number>();
        for (const { deviceId } of await deps.director.devices())
          for (const tag of await deviceTags(deps.director, deviceId))
            counts.set(tag, (counts.get(tag) ?? 0) + 1);
        return [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([tag, devices]) => ({ tag, devices }));
      },
    }),
    apiRoute({
      method: 'post',
      path: '/devices/{deviceId}/tags',
      summary: "Add and remove a device's tags (INVALID_INPUT for a device the Director does not know).",
      roles: ['release'],
      params: z.object({ deviceId: deviceIdSchema }),
      body: z
        .object({ add: tagList.default([]), remove: tagList.default([]) })
        .strict()
        .meta({ id: 'TagChange' }),
      response: z.object({
        deviceId: z.string(),
        tags: z.array(z.string()),
        added: z.array(z.string()),
        removed: z.array(z.string()),
      }),
      async handle({ params, body, record }) {
        const { before, after } = await tagDevice(deps.director, params.deviceId, body);
        const { added, removed, summary } = tagChange(before, after);
        if (added.length + removed.length > 0)
          record({
            aggregate: 'device',
            aggregateId: params.deviceId,
            type: 'device.tagged',
            data: { summary, added, removed, tags: after },
          });
        return { deviceId: params.deviceId, tags: after, added, removed };
      },
    }),
  ];
}
