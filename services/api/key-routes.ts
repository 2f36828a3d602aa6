import { z } from 'zod';
import type { Clock } from '../../core/index.ts';
import { ceremonyStatus, keyRecordSchema, parseRootEnvelope, type KeyStore } from '../../keys/index.ts';
import type { DirectorRepository } from '../director/index.ts';
import type { ImageRepository } from '../image-repo/index.ts';
import { apiRoute, READERS, type ApiRoute } from './api-route.ts';

/** Signatures one page of the audit lists by default, and at most. */
const AUDIT_PAGE = 100;
const MAX_AUDIT_PAGE = 1000;
/** A root proposal is a root's metadata with its signatures: well under this. */
const MAX_PROPOSAL_BYTES = 512 * 1024;

const REPOSITORIES = ['image', 'director'] as const;

const signatureSchema = z
  .object({ at: z.string(), keyId: z.string(), repository: z.string(), role: z.string(), sha256: z.string() })
  .meta({
    id: 'Signature',
    description: 'One signature made with a key of the key store: when, key, role, digest.',
  });

const rootSchema = z
  .object({
    repository: z.enum(REPOSITORIES),
    version: z.int(),
    expires: z.string(),
    daysLeft: z.number().describe('until it expires; negative once it has'),
    roles: z.record(z.string(), z.object({ threshold: z.int(), keyIds: z.array(z.string()) })),
  })
  .meta({
    id: 'Root',
    description: "A repository's current root: who may sign each role, and how many must.",
  });

const ceremonySchema = z
  .object({
    version: z.int(),
    byCurrentRoot: z.object({ have: z.int(), need: z.int() }),
    byProposedRoot: z.object({ have: z.int(), need: z.int() }),
    complete: z.boolean().describe('enough signatures of both roots: `keys root publish` may publish it'),
  })
  .meta({ id: 'CeremonyStatus' });

/**
 * What a security team watches: its keys with their expiry, every signature
 * made with them, each repository's current root, and how far a root
 * ceremony's proposal is (`keys root status`). Nothing here changes anything.
 */
export function keyRoutes(deps: {
  store: KeyStore;
  image: ImageRepository;
  director: DirectorRepository;
  now: Clock;
}): ApiRoute[] {
  const currentRoot = (repository: (typeof REPOSITORIES)[number]) =>
    repository === 'image' ? deps.image.currentRootBytes() : deps.director.currentRoot();
  return [
    apiRoute({
      method: 'get',
      path: '/keys',
      summary: 'Every key of the key store: role, expiry, whether it is revoked (never a private half).',
      roles: READERS,
      response: z.array(keyRecordSchema.meta({ id: 'Key' })),
      handle: () => deps.store.list(),
    }),
    apiRoute({
      method: 'get',
      path: '/keys/audit',
      summary: 'The signature audit: every signature made with a key of the key store, newest first, paged.',
      roles: READERS,
      query: z.object({
        offset: z.coerce.number().int().min(0).default(0).describe('signatures newer than these are skipped'),
        limit: z.coerce.number().int().min(1).max(MAX_AUDIT_PAGE).default(AUDIT_PAGE),
      }),
      response: z
        .object({
          signatures: z.array(signatureSchema),
          total: z.int(),
          next: z.int().nullable().describe('the `offset` of the next page; null on the last'),
        })
        .meta({ id: 'SignatureAudit' }),
      async handle({ query }) {
        const trail = (await deps.store.auditTrail()).reverse();
        const end = query.offset + query.limit;
        return {
          signatures: trail.slice(query.offset, end),
          total: trail.length,
          next: end < trail.length ? end : null,
        };
      },
    }),
    apiRoute({
      method: 'get',
      path: '/roots',
      summary:
        "Each repository's current root: its version, expiry, and the keys and threshold of every role.",
      roles: READERS,
      response: z.array(rootSchema),
      handle: () =>
        Promise.all(
          REPOSITORIES.map(async (repository) => {
            const { signed } = parseRootEnvelope(await currentRoot(repository), `${repository} root`);
            return {
              repository,
              version: signed.version,
              expires: signed.expires,
              daysLeft: Math.floor((Date.parse(signed.expires) - deps.now().getTime()) / 86_400_000),
              roles: Object.fromEntries(
                Object.entries(signed.roles).map(([role, { threshold, keyids }]) => [
                  role,
                  { threshold, keyIds: keyids },
                ]),
              ),
            };
          }),
        ),
    }),
    apiRoute({
      method: 'post',
      path: '/roots/{repository}/proposal-status',
      summary:
        "How far a root ceremony is: the proposal's valid signatures by the current and by its own root keys, and whether it may be published. Changes nothing.",
      roles: READERS,
      params: z.object({ repository: z.enum(REPOSITORIES) }),
      body: z.record(z.string(), z.unknown()).describe('the proposal, as `keys root propose` wrote it'),
      maxBodyBytes: MAX_PROPOSAL_BYTES,
      response: ceremonySchema,
      handle: async ({ params, body }) =>
        ceremonyStatus(await currentRoot(params.repository), new TextEncoder().encode(JSON.stringify(body))),
    }),
  ];
}
