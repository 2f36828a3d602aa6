import { z } from 'zod';
import { artifactNameSchema, type Clock, type DevicePresence } from '../../core/index.ts';
import type { KeyStore } from '../../keys/index.ts';
import type { DirectorRepository } from '../director/index.ts';
import type { ImageRepository, RepositoryVersions } from '../image-repo/index.ts';
import type { Signer } from '../../core/tuf/index.ts';
import { apiRoute, READERS, type ApiChange, type ApiRoute } from './api-route.ts';
import { deviceListRoute } from './device-routes.ts';
import { keyRoutes } from './key-routes.ts';
import { revisionRoutes } from './revision-routes.ts';
import { tagRoutes } from './tag-routes.ts';
import type { DeviceView } from '../projections/index.ts';

const MAX_RELEASE_BYTES = 64 * 1024 * 1024;

/** A release as the API takes it: strict (an unknown field is refused, named), each name once. */
const releaseSchema = z
  .object({
    artifacts: z
      .array(
        z
          .object({
            name: artifactNameSchema,
            contentBase64: z.base64(),
            hardwareIds: z.array(z.string().min(1).max(128)).min(1).max(64),
            releaseCounter: z.int().min(0),
          })
          .strict(),
      )
      .min(1)
      .max(1000)
      .refine(
        (list) => new Set(list.map((a) => a.name)).size === list.length,
        'artifact names must be unique',
      ),
  })
  .strict();

const versionsSchema = z
  .object({ root: z.int(), targets: z.int(), releases: z.int(), snapshot: z.int(), timestamp: z.int() })
  .meta({ id: 'RepositoryVersions', description: 'The versions of the metadata the repository serves.' });

const targetSpecSchema = z.object({
  length: z.int(),
  hashes: z.record(z.string(), z.string()),
  custom: z.unknown().optional(),
});

/** The management API's endpoints over the key store and both repositories. */
export function managementRoutes(deps: {
  store: KeyStore;
  image: ImageRepository;
  director: DirectorRepository;
  releaseSigners: () => Promise<{ releases: Signer[]; snapshot: Signer[]; timestamp: Signer[] }>;
  now: Clock;
  /** What the devices' heartbeats said (their apps included), when the API reaches the deployment's NATS. */
  presence?: { of(deviceIds: readonly string[]): Promise<Record<string, DevicePresence>> };
  /** The device projection, when the API reaches the deployment's NATS. */
  views?: () => Promise<Record<string, DeviceView>>;
}): ApiRoute[] {
  return [
    ...keyRoutes(deps),
    ...revisionRoutes(deps),
    ...tagRoutes(deps),
    deviceListRoute(deps),
    apiRoute({
      method: 'get',
      path: '/releases',
      summary: 'The released targets of the Image repository, by name.',
      roles: READERS,
      response: z.record(z.string(), targetSpecSchema),
      handle: () => deps.image.releasedTargets(),
    }),
    apiRoute({
      method: 'post',
      path: '/releases',
      summary: 'Publish artifacts as a release (the same artifact again is done already: nothing signed).',
      roles: ['release'],
      body: releaseSchema,
      maxBodyBytes: MAX_RELEASE_BYTES,
      response: versionsSchema,
      async handle({ body, record }) {
        const artifacts = body.artifacts.map((a) => ({
          ...a,
          bytes: Buffer.from(a.contentBase64, 'base64'),
        }));
        const before = await deps.image.versions();
        const versions = await deps.image.publish(artifacts, await deps.releaseSigners(), deps.now());
        // Every artifact was published so already: nothing was signed, nothing to record.
        if (versions.timestamp !== before.timestamp) record(releasePublished(body, versions));
        return versions;
      },
    }),
  ];
}

/** The audit event of a release published through the API, as `uproll release publish` records it. */
function releasePublished(release: z.infer<typeof releaseSchema>, versions: RepositoryVersions): ApiChange {
  const names = release.artifacts.map((a) => a.name);
  return {
    aggregate: 'repository',
    aggregateId: 'image',
    type: 'repository.release.published',
    data: {
      summary: `published ${names.join(', ')} as releases v${versions.releases}`,
      artifacts: names,
      hardwareIds: [...new Set(release.artifacts.flatMap((a) => a.hardwareIds))],
      releaseCounters: [...new Set(release.artifacts.map((a) => a.releaseCounter))],
      versions,
    },
  };
}
