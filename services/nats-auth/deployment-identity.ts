import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createAccount, createOperator, createUser } from '@nats-io/nkeys';
import { z } from 'zod';
import { parseJson, UprollError, type Clock } from '../../core/index.ts';
import { accountJwt, natsCreds, operatorJwt, publicKeyOf, userJwt } from '../../keys/index.ts';
import { withFileLock, writeFileAtomic } from '../../adapters/fs/index.ts';
import { deviceQuotasOf, deviceQuotasSchema, type DeviceQuotas } from '../nats/index.ts';

/**
 * A deployment's NATS identity (decentralized JWT auth): an operator that
 * nats-server trusts, a system account (the server takes account updates
 * there), and the UPROLL account with JetStream, whose signing key signs one
 * user per device. nats-server learns the accounts from its configuration
 * and from pushed updates; users it never needs to be told about.
 */
export interface NatsIdentity {
  operatorSeed: string;
  systemSeed: string;
  accountSeed: string;
  /** Signs device users; the account's own key only signs the services user. */
  signingKeySeed: string;
  operatorJwt: string;
  systemAccountJwt: string;
  accountJwt: string;
  /** When `accountJwt` was signed (seconds): a later one is never older, or servers would ignore it. */
  accountIssuedAt: number;
  /** User keys refused from the time given (seconds); part of every account JWT signed from now on. */
  revocations: Record<string, number>;
  /** Where devices and services reach this NATS (`uproll nats init --url`); unset for the local stack. */
  servers?: string;
  /** What one device may use (README, quotas); any left out keeps its default. Edited by hand. */
  deviceQuotas?: z.infer<typeof deviceQuotasSchema>;
}

const SECRET = 0o600;
const MAX_IDENTITY_BYTES = 16 * 1024 * 1024;
const seedSchema = (prefix: string) => z.string().regex(new RegExp(`^${prefix}[A-Z2-7]{56}$`));
const jwtSchema = z.string().regex(/^[\w-]+\.[\w-]+\.[\w-]+$/);
const identitySchema = z.object({
  operatorSeed: seedSchema('SO'),
  systemSeed: seedSchema('SA'),
  accountSeed: seedSchema('SA'),
  signingKeySeed: seedSchema('SA'),
  operatorJwt: jwtSchema,
  systemAccountJwt: jwtSchema,
  accountJwt: jwtSchema,
  accountIssuedAt: z.int().nonnegative(),
  revocations: z.record(z.string().regex(/^U[A-Z2-7]{55}$/), z.int().nonnegative()),
  servers: z.string().min(1).max(4096).optional(),
  deviceQuotas: deviceQuotasSchema.optional(),
});

/** Where a state directory keeps its NATS identity; seeds and credentials at mode 0600. */
export function natsIdentityPaths(stateDir: string) {
  const dir = join(stateDir, 'nats');
  return {
    dir,
    identity: join(dir, 'identity.json'),
    /** The services user (`uproll serve --nats-seed-file`). */
    servicesCreds: join(dir, 'services.creds'),
    /** A system account user: pushes account updates (revocations) to the servers. */
    systemCreds: join(dir, 'system.creds'),
    /** One file per device: the user keys it holds. */
    devices: join(dir, 'devices'),
  };
}

const seedOf = (pair: { getSeed(): Uint8Array }) => new TextDecoder().decode(pair.getSeed());
const seconds = (date: Date) => Math.floor(date.getTime() / 1000);

/** The account's public key: the name nats-server knows it by. */
export const accountOf = (identity: NatsIdentity) => publicKeyOf(identity.accountSeed);
export const systemAccountOf = (identity: NatsIdentity) => publicKeyOf(identity.systemSeed);

export async function readNatsIdentity(stateDir: string): Promise<NatsIdentity | undefined> {
  const path = natsIdentityPaths(stateDir).identity;
  const text = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  return text && parseJson(identitySchema, text, { maxBytes: MAX_IDENTITY_BYTES, what: path });
}

/** What one device may use in this deployment: identity.json's `deviceQuotas`, defaults for the rest. */
export async function deploymentDeviceQuotas(stateDir: string): Promise<DeviceQuotas> {
  return deviceQuotasOf((await readNatsIdentity(stateDir))?.deviceQuotas);
}

/** The identity, or NATS_NOT_INITIALIZED naming the commands that create one. */
export async function requireNatsIdentity(stateDir: string): Promise<NatsIdentity> {
  const identity = await readNatsIdentity(stateDir);
  if (!identity)
    throw new UprollError(
      'NATS_NOT_INITIALIZED',
      `no NATS identity in ${natsIdentityPaths(stateDir).dir}: run \`uproll nats init --url URL\` for your own nats-server, or \`uproll dev up\` for the local stack (one an older uproll started: \`uproll dev down\` first)`,
    );
  return identity;
}

/**
 * Creates the identity unless there is one (keys are never replaced here),
 * with the services' and the system user's credentials; `servers`, when
 * given, is recorded (again). Returns it and whether it was created now.
 */
export async function initNatsIdentity(
  stateDir: string,
  options: { clock: Clock; servers?: string },
): Promise<{ identity: NatsIdentity; created: boolean }> {
  const paths = natsIdentityPaths(stateDir);
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  return withFileLock(paths.identity, async () => {
    const existing = await readNatsIdentity(stateDir);
    if (existing) {
      if (options.servers === undefined || options.servers === existing.servers)
        return { identity: existing, created: false };
      const identity = { ...existing, servers: options.servers };
      await writeIdentity(stateDir, identity);
      return { identity, created: false };
    }
    const now = options.clock();
    const [operatorSeed, systemSeed, accountSeed, signingKeySeed] = [
      seedOf(createOperator()),
      seedOf(createAccount()),
      seedOf(createAccount()),
      seedOf(createAccount()),
    ];
    const system = publicKeyOf(systemSeed);
    const identity: NatsIdentity = {
      operatorSeed,
      systemSeed,
      accountSeed,
      signingKeySeed,
      operatorJwt: operatorJwt({ operatorSeed, name: 'uproll', systemAccount: system, issuedAt: now }),
      systemAccountJwt: accountJwt({
        operatorSeed,
        account: system,
        name: 'SYS',
        issuedAt: now,
        jetstream: false,
      }),
      accountJwt: '',
      accountIssuedAt: 0,
      revocations: {},
      ...(options.servers ? { servers: options.servers } : {}),
    };
    const signed = signAccount(identity, now);
    await writeUserCreds(paths.servicesCreds, accountSeed, publicKeyOf(accountSeed), 'uproll-services', now);
    await writeUserCreds(paths.systemCreds, systemSeed, system, 'uproll-system', now);
    await writeIdentity(stateDir, signed);
    return { identity: signed, created: true };
  });
}

/**
 * Revokes user keys from now on: records them and signs the account again.
 * Serialized with every other change, so no revocation is ever lost.
 */
export async function revokeNatsUsers(
  stateDir: string,
  userKeys: readonly string[],
  clock: Clock,
): Promise<NatsIdentity> {
  return withFileLock(natsIdentityPaths(stateDir).identity, async () => {
    const identity = await requireNatsIdentity(stateDir);
    // Refused if issued at or before this time: every key listed here was issued before now.
    const at = seconds(clock());
    const revocations = { ...identity.revocations };
    for (const key of userKeys) revocations[key] = at;
    const signed = signAccount({ ...identity, revocations }, clock());
    await writeIdentity(stateDir, signed);
    return signed;
  });
}

/**
 * Signs the UPROLL account JWT, issued strictly after the one it replaces: a
 * server keeps the account it has unless the one it is given is newer, and
 * two of the same second could otherwise let an older copy win.
 */
function signAccount(identity: NatsIdentity, now: Date): NatsIdentity {
  const issuedAt = Math.max(seconds(now), identity.accountIssuedAt + 1);
  return {
    ...identity,
    accountIssuedAt: issuedAt,
    accountJwt: accountJwt({
      operatorSeed: identity.operatorSeed,
      account: accountOf(identity),
      name: 'UPROLL',
      issuedAt: new Date(issuedAt * 1000),
      jetstream: true,
      signingKeys: [publicKeyOf(identity.signingKeySeed)],
      revocations: identity.revocations,
    }),
  };
}

/** A user of the account with every permission in it, as a `.creds` file at mode 0600. */
async function writeUserCreds(path: string, signerSeed: string, account: string, name: string, now: Date) {
  const seed = seedOf(createUser());
  const jwt = userJwt({ signerSeed, account, user: publicKeyOf(seed), name, issuedAt: now });
  await writeFileAtomic(path, natsCreds(jwt, seed), { mode: SECRET });
}

function writeIdentity(stateDir: string, identity: NatsIdentity) {
  return writeFileAtomic(natsIdentityPaths(stateDir).identity, `${JSON.stringify(identity, null, 2)}\n`, {
    mode: SECRET,
  });
}

/** What nats-server must be configured with to trust this identity. */
export function natsServerAuthOf(identity: NatsIdentity) {
  return {
    operatorJwt: identity.operatorJwt,
    systemAccount: systemAccountOf(identity),
    accounts: {
      [systemAccountOf(identity)]: identity.systemAccountJwt,
      [accountOf(identity)]: identity.accountJwt,
    },
  };
}
