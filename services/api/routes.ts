import { z } from 'zod';
import { artifactNameSchema, parseJson, type Clock, type DevicePresence } from '../../core/index.ts';
import type { KeyStore } from '../../keys/index.ts';
import type { DirectorRepository } from '../director/index.ts';
import type { ImageRepository, RepositoryVersions } from '../image-repo/index.ts';
import type { Signer } from '../../core/tuf/index.ts';
import type { ApiChange, ApiRoute } from './server.ts';

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

/** The management API's endpoints over the key store and both repositories. */
export function managementRoutes(deps: {
  store: KeyStore;
  image: ImageRepository;
  director: DirectorRepository;
  releaseSigners: () => Promise<{ releases: Signer[]; snapshot: Signer[]; timestamp: Signer[] }>;
  now: Clock;
  /** What the devices' heartbeats said (their apps included), when the API reaches the deployment's NATS. */
  presence?: { of(deviceIds: readonly string[]): Promise<Record<string, DevicePresence>> };
}): ApiRoute[] {
  return [
    { method: 'GET', path: '/api/keys', roles: ['security'], handle: () => deps.store.list() },
    {
      method: 'GET',
      path: '/api/devices',
      roles: ['security', 'release'],
      async handle() {
        const devices = await deps.director.devices();
        if (!deps.presence) return devices;
        // Each device as the Director knows it, with when it was last heard of and its apps.
        const seen = await deps.presence.of(devices.map((d) => d.deviceId));
        return devices.map((d) => ({
          ...d,
          lastSeenAt: seen[d.deviceId]?.lastSeenAt ?? null,
          apps: seen[d.deviceId]?.apps ?? [],
        }));
      },
    },
    {
      method: 'GET',
      path: '/api/releases',
      roles: ['security', 'release'],
      handle: () => deps.image.releasedTargets(),
    },
    {
      method: 'POST',
      path: '/api/releases',
      roles: ['release'],
      maxBodyBytes: MAX_RELEASE_BYTES,
      async handle({ body, record }) {
        const release = parseJson(releaseSchema, body, { maxBytes: MAX_RELEASE_BYTES, what: 'release' });
        const artifacts = release.artifacts.map((a) => ({
          ...a,
          bytes: Buffer.from(a.contentBase64, 'base64'),
        }));
        const before = await deps.image.versions();
        const versions = await deps.image.publish(artifacts, await deps.releaseSigners(), deps.now());
        // Every artifact was published so already: nothing was signed, nothing to record.
        if (versions.timestamp !== before.timestamp) record(releasePublished(release, versions));
        return versions;
      },
    },
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
