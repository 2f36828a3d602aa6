import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { z } from 'zod';
import {
  assertToken,
  deviceIdSchema,
  parseJson,
  subjects,
  UprollError,
  type Clock,
} from '../../core/index.ts';
import {
  isUserPublicKey,
  natsCreds,
  publicKeyOf,
  userJwt,
  type NatsUserPermissions,
} from '../../keys/index.ts';
import { withFileLock, writeFileAtomic } from '../../adapters/fs/index.ts';
import { deviceQuotasOf } from '../nats/index.ts';
import { accountOf, natsIdentityPaths, requireNatsIdentity, revokeNatsUsers } from './deployment-identity.ts';

/** A NATS user's credentials: `credentials` is the `.creds` text (JWT and seed), secret to its holder. */
export interface NatsUserCredentials {
  publicKey: string;
  credentials: string;
}

const userKeySchema = z.string().refine(isUserPublicKey, 'must be an nkey user public key');
/** A device's NATS users: one key per bundle it was given, until it is revoked (older files name one key). */
const deviceUserSchema = z
  .object({
    deviceId: deviceIdSchema,
    publicKey: userKeySchema.optional(),
    publicKeys: z.array(userKeySchema).optional(),
  })
  .transform(({ deviceId, publicKey, publicKeys }) => ({
    deviceId,
    publicKeys: publicKeys ?? (publicKey ? [publicKey] : []),
  }));

/**
 * The permissions of one device (DESIGN.md, messaging): publish only on its
 * own `uproll.dev.<device>.>`, subscribe only to its own commands and inbox,
 * and answer the requests it receives.
 */
export function devicePermissions(deviceId: string): NatsUserPermissions {
  return {
    publish: [subjects.deviceOutbox(deviceId)],
    subscribe: [subjects.allCommands(deviceId), `${subjects.deviceInboxPrefix(deviceId)}.>`],
    responses: { max: 1, ttlMs: 60_000 },
  };
}

/**
 * Signs a new NATS user for each device with the account's signing key,
 * confined to its own subjects and to the deployment's per-connection quotas. The server needs no change to let it in.
 * Unless `keepExisting`, the keys the devices held before are revoked first,
 * in one account update (`revoked` says how many: that update then has to
 * reach the servers).
 */
export async function issueDeviceCredentials(
  stateDir: string,
  deviceIds: readonly string[],
  options: { clock: Clock; keepExisting?: boolean },
): Promise<{ credentials: NatsUserCredentials[]; revoked: number }> {
  for (const deviceId of deviceIds) assertToken(deviceId, 'device id');
  if (new Set(deviceIds).size !== deviceIds.length)
    throw new UprollError('INVALID_INPUT', 'a device is named twice: each gets one new NATS user');
  const identity = await requireNatsIdentity(stateDir);
  const quotas = deviceQuotasOf(identity.deviceQuotas);
  const dir = natsIdentityPaths(stateDir).devices;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // One writer of the device files at a time, so that no key is lost between read and write.
  return withFileLock(dir, async () => {
    const earlier = new Map<string, string[]>();
    for (const deviceId of deviceIds)
      earlier.set(deviceId, (await readDeviceUser(dir, deviceId))?.publicKeys ?? []);
    const replaced = options.keepExisting ? [] : [...earlier.values()].flat();
    // Revoked before forgotten: a crash in between leaves the old keys refused, never valid and unlisted.
    if (replaced.length > 0) await revokeNatsUsers(stateDir, replaced, options.clock);
    const credentials: NatsUserCredentials[] = [];
    for (const deviceId of deviceIds) {
      const seed = new TextDecoder().decode(createUser().getSeed());
      const publicKey = publicKeyOf(seed);
      const jwt = userJwt({
        signerSeed: identity.signingKeySeed,
        account: accountOf(identity),
        user: publicKey,
        name: deviceId,
        issuedAt: options.clock(),
        permissions: devicePermissions(deviceId),
        limits: { subscriptions: quotas.subscriptions, payloadBytes: quotas.payloadBytes },
      });
      const kept = options.keepExisting ? (earlier.get(deviceId) ?? []) : [];
      await writeFileAtomic(
        join(dir, `${deviceId}.json`),
        JSON.stringify({ deviceId, publicKeys: [...kept, publicKey] }),
      );
      credentials.push({ publicKey, credentials: natsCreds(jwt, seed) });
    }
    return { credentials, revoked: replaced.length };
  });
}

/**
 * Revokes every NATS user of a device in the account and forgets them.
 * Returns how many keys were revoked; DEVICE_NOT_FOUND for a device without any.
 */
export async function revokeDeviceCredentials(stateDir: string, deviceId: string, clock: Clock) {
  const dir = natsIdentityPaths(stateDir).devices;
  const path = join(dir, `${assertToken(deviceId, 'device id')}.json`);
  const notFound = () =>
    new UprollError('DEVICE_NOT_FOUND', `device ${deviceId} has no NATS credentials in ${dir}`);
  if (!(await readDeviceUser(dir, deviceId))) throw notFound();
  return withFileLock(dir, async () => {
    const user = await readDeviceUser(dir, deviceId);
    if (!user) throw notFound(); // revoked meanwhile
    // Revoked before forgotten: a crash in between leaves the keys refused, never valid and unlisted.
    const identity = await revokeNatsUsers(stateDir, user.publicKeys, clock);
    await rm(path);
    return { keys: user.publicKeys.length, identity };
  });
}

/** The user keys a device holds now. */
export async function deviceUserKeys(stateDir: string, deviceId: string): Promise<string[]> {
  const dir = natsIdentityPaths(stateDir).devices;
  return (await readDeviceUser(dir, assertToken(deviceId, 'device id')))?.publicKeys ?? [];
}

async function readDeviceUser(dir: string, deviceId: string) {
  const path = join(dir, `${deviceId}.json`);
  const text = await readFile(path).catch(() => undefined);
  return text && parseJson(deviceUserSchema, text, { maxBytes: 64 * 1024, what: path });
}
