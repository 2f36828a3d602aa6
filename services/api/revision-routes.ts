import { z } from 'zod';
import { revisionDiff, revisionNameOf, UprollError, type StateRevision } from '../../core/index.ts';
import type { ImageRepository } from '../image-repo/index.ts';
import { apiRoute, READERS, type ApiRoute } from './api-route.ts';

const revisionName = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be a plain revision name');

const changesSchema = z.object({
  added: z.array(z.string()),
  removed: z.array(z.string()),
  changed: z.array(z.string()),
  unchanged: z.int(),
});

const diffSchema = z
  .object({
    from: z.string(),
    to: z.string(),
    artifacts: changesSchema.describe('by path'),
    apps: changesSchema.describe('by name'),
    os: z.object({ changes: z.boolean(), from: z.string().optional(), to: z.string().optional() }),
    download: z
      .object({ objects: z.int(), bytes: z.int(), ofBytes: z.int() })
      .describe('what a device on `from` downloads: objects it does not hold, each once, of the whole'),
  })
  .meta({ id: 'RevisionDiff' });

/**
 * The state revisions the Image repository released: the list, one
 * document, and what changes from one to another (and the bytes a device
 * downloads for it, as the agent fetches only objects it does not hold).
 */
export function revisionRoutes(deps: { image: ImageRepository }): ApiRoute[] {
  const released = async (name: string): Promise<StateRevision> => {
    const revision = await deps.image.publishedRevision(name);
    if (!revision)
      throw new UprollError('REVISION_NOT_FOUND', `the Image repository has released no revision ${name}`);
    return revision;
  };
  return [
    apiRoute({
      method: 'get',
      path: '/revisions',
      summary: 'The state revisions released, by name, with the length and digest of each document.',
      roles: READERS,
      response: z.array(
        z.object({ name: z.string(), length: z.int(), sha256: z.string() }).meta({ id: 'RevisionRow' }),
      ),
      async handle() {
        const targets = await deps.image.releasedTargets();
        return Object.entries(targets)
          .flatMap(([path, spec]) => {
            const name = revisionNameOf(path);
            return name ? [{ name, length: spec.length, sha256: spec.hashes['sha256'] ?? '' }] : [];
          })
          .sort((a, b) => a.name.localeCompare(b.name));
      },
    }),
    apiRoute({
      method: 'get',
      path: '/revisions/{name}',
      summary: 'One state revision as devices install it: artifacts, OS, apps, health check.',
      roles: READERS,
      params: z.object({ name: revisionName }),
      response: z.record(z.string(), z.unknown()).meta({ id: 'StateRevision' }),
      handle: ({ params }) => released(params.name),
    }),
    apiRoute({
      method: 'get',
      path: '/revisions/{name}/diff',
      summary:
        'What changes for a device on `from` that installs this revision: artifacts, apps, OS, and the bytes it downloads.',
      roles: READERS,
      params: z.object({ name: revisionName }),
      query: z.object({ from: revisionName }),
      response: diffSchema,
      handle: async ({ params, query }) =>
        revisionDiff(await released(query.from), await released(params.name)),
    }),
  ];
}
