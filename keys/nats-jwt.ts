import { createHash } from 'node:crypto';
import { fromSeed } from '@nats-io/nkeys';

// NATS decentralized authentication: an operator signs accounts, an account (or one of its
// signing keys) signs users. nats-server checks each user JWT against the account it names, so a
// device signed here needs no change to the server's configuration. Claims follow the NATS JWT v2
// schema (github.com/nats-io/jwt); only the fields Uproll uses are written.

/** Subject permissions of a user, as a user JWT carries them. */
export interface NatsUserPermissions {
  publish: readonly string[];
  subscribe: readonly string[];
  /** Lets the user answer requests it received (at most `max` replies each, within `ttlMs`). */
  responses?: { max: number; ttlMs: number };
}

/**
 * What one user may hold on each of its connections; nats-server 2.9 enforces
 * these two (a user JWT has no connection count: that is per account).
 */
export interface NatsUserLimits {
  /** Subscriptions at once; one more is refused ("maximum subscriptions exceeded"). */
  subscriptions: number;
  /** Bytes of one message, headers included; a bigger one closes the connection. */
  payloadBytes: number;
}

const encoder = new TextEncoder();
const base64url = (bytes: Uint8Array | string) =>
  Buffer.from(typeof bytes === 'string' ? encoder.encode(bytes) : bytes).toString('base64url');
const HEADER = base64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));
/** No limit, in the JWT's terms. */
const UNLIMITED = -1;

/** The public key of an nkey seed (`SO…`, `SA…`, `SU…`). */
export function publicKeyOf(seed: string): string {
  return fromSeed(encoder.encode(seed)).getPublicKey();
}

/**
 * Signs claims as a NATS JWT with the issuer's seed. The `jti` is the
 * base32 SHA-512/256 of the claims without it, as the NATS tools compute it.
 */
function signClaims(
  issuerSeed: string,
  subject: string,
  name: string,
  issuedAt: Date,
  nats: Record<string, unknown>,
): string {
  const issuer = fromSeed(encoder.encode(issuerSeed));
  const claims = {
    jti: '',
    iat: Math.floor(issuedAt.getTime() / 1000),
    iss: issuer.getPublicKey(),
    name,
    sub: subject,
    nats: { ...nats, version: 2 },
  };
  claims.jti = base32(createHash('sha512-256').update(JSON.stringify(claims)).digest());
  const payload = base64url(JSON.stringify(claims));
  const signature = issuer.sign(encoder.encode(`${HEADER}.${payload}`));
  return `${HEADER}.${payload}.${base64url(signature)}`;
}

/** The operator's self-signed JWT; `systemAccount` is the account nats-server reports and takes updates on. */
export function operatorJwt(input: {
  operatorSeed: string;
  name: string;
  systemAccount: string;
  issuedAt: Date;
}) {
  return signClaims(input.operatorSeed, publicKeyOf(input.operatorSeed), input.name, input.issuedAt, {
    type: 'operator',
    system_account: input.systemAccount,
  });
}

/**
 * An account JWT signed by the operator. `jetstream` enables JetStream
 * without limits; `signingKeys` may sign the account's users; a user key in
 * `revocations` is refused if its JWT was issued at or before that time.
 */
export function accountJwt(input: {
  operatorSeed: string;
  account: string;
  name: string;
  issuedAt: Date;
  jetstream: boolean;
  signingKeys?: readonly string[];
  revocations?: Readonly<Record<string, number>>;
}) {
  const storage = input.jetstream ? UNLIMITED : 0;
  return signClaims(input.operatorSeed, input.account, input.name, input.issuedAt, {
    type: 'account',
    limits: {
      subs: UNLIMITED,
      data: UNLIMITED,
      payload: UNLIMITED,
      imports: UNLIMITED,
      exports: UNLIMITED,
      wildcards: true,
      conn: UNLIMITED,
      leaf: UNLIMITED,
      mem_storage: storage,
      disk_storage: storage,
      streams: input.jetstream ? UNLIMITED : 0,
      consumer: input.jetstream ? UNLIMITED : 0,
    },
    default_permissions: { pub: {}, sub: {} },
    ...(input.signingKeys?.length ? { signing_keys: [...input.signingKeys] } : {}),
    ...(input.revocations && Object.keys(input.revocations).length
      ? { revocations: { ...input.revocations } }
      : {}),
  });
}

/**
 * A user JWT signed by `signerSeed` (the account's key or one of its signing
 * keys) for the account `account`. Without `permissions` the user may use
 * every subject of the account; without `limits` it has none.
 */
export function userJwt(input: {
  signerSeed: string;
  account: string;
  user: string;
  name: string;
  issuedAt: Date;
  permissions?: NatsUserPermissions;
  limits?: NatsUserLimits;
}) {
  const { permissions, limits } = input;
  const signer = publicKeyOf(input.signerSeed);
  return signClaims(input.signerSeed, input.user, input.name, input.issuedAt, {
    type: 'user',
    pub: permissions ? { allow: [...permissions.publish] } : {},
    sub: permissions ? { allow: [...permissions.subscribe] } : {},
    ...(permissions?.responses
      ? { resp: { max: permissions.responses.max, ttl: permissions.responses.ttlMs * 1_000_000 } }
      : {}),
    subs: limits?.subscriptions ?? UNLIMITED,
    data: UNLIMITED,
    payload: limits?.payloadBytes ?? UNLIMITED,
    ...(signer === input.account ? {} : { issuer_account: input.account }),
  });
}

/** The text of a `.creds` file: a user JWT and its seed, as NATS clients and tools read them. */
export function natsCreds(jwt: string, seed: string): string {
  return [
    '-----BEGIN NATS USER JWT-----',
    jwt,
    '------END NATS USER JWT------',
    '',
    '# The seed below proves this identity: keep this file secret (mode 0600).',
    '',
    '-----BEGIN USER NKEY SEED-----',
    seed,
    '------END USER NKEY SEED------',
    '',
  ].join('\n');
}

/** True when `text` looks like a `.creds` file rather than a bare seed. */
export function isNatsCreds(text: string): boolean {
  return text.includes('-----BEGIN NATS USER JWT-----');
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** RFC 4648 base32 without padding. */
function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}
