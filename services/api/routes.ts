import { z } from 'zod';
import { parseJson, type Clock } from '../../core/index.ts';
import type { KeyStore } from '../../keys/index.ts';
import type { DirectorRepository } from '../director/index.ts';
import type { ImageRepository } from '../image-repo/index.ts';
import type { Signer } from '../../core/tuf/index.ts';
import type { ApiRoute } from './server.ts';

const MAX_RELEASE_BYTES = 64 * 1024 * 1024;

const releaseSchema = z.object({
  artifacts: z
    .array(
      z.object({
        name: z.string().min(1).max(1024),
        contentBase64: z.base64(),
        hardwareIds: z.array(z.string().min(1).max(128)).min(1).max(64),
        releaseCounter: z.int().min(0),
      }),
    )
    .min(1)
    .max(1000),
});

/** The management API's endpoints over the key store and both repositories. */
export function managementRoutes(deps: {
  store: KeyStore;
  image: ImageRepository;
  director: DirectorRepository;
  releaseSigners: () => Promise<{ releases: Signer[]; snapshot: Signer[]; timestamp: Signer[] }>;
  now: Clock;
}): ApiRoute[] {
  return [
    { method: 'GET', path: '/api/keys', roles: ['security'], handle: () => deps.store.list() },
    {
      method: 'GET',
      path: '/api/devices',
      roles: ['security', 'release'],
      handle: () => deps.director.devices(),
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
      async handle({ body }) {
        const release = parseJson(releaseSchema, body, { maxBytes: MAX_RELEASE_BYTES, what: 'release' });
        const artifacts = release.artifacts.map((a) => ({
          ...a,
          bytes: Buffer.from(a.contentBase64, 'base64'),
        }));
        return deps.image.publish(artifacts, await deps.releaseSigners(), deps.now());
      },
    },
  ];
}
