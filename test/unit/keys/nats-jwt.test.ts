import { createAccount, createOperator, createUser, fromPublic } from '@nats-io/nkeys';
import { describe, expect, it } from 'vitest';
import { accountJwt, natsCreds, operatorJwt, publicKeyOf, userJwt } from '../../../keys/index.ts';

const seedOf = (pair: { getSeed(): Uint8Array }) => new TextDecoder().decode(pair.getSeed());
const issuedAt = new Date();

/** The claims of a JWT, after checking its signature against the issuer it names. */
function verified(
  jwt: string,
): Record<string, unknown> & { iss: string; sub: string; nats: Record<string, unknown> } {
  const [header, payload, signature] = jwt.split('.') as [string, string, string];
  expect(JSON.parse(Buffer.from(header, 'base64url').toString())).toEqual({
    typ: 'JWT',
    alg: 'ed25519-nkey',
  });
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as ReturnType<typeof verified>;
  const valid = fromPublic(claims.iss).verify(
    new TextEncoder().encode(`${header}.${payload}`),
    Buffer.from(signature, 'base64url'),
  );
  expect(valid).toBe(true);
  return claims;
}

describe('NATS JWTs', () => {
  const operator = seedOf(createOperator());
  const account = seedOf(createAccount());
  const signingKey = seedOf(createAccount());
  const user = seedOf(createUser());

  it('an operator signs itself and names its system account', () => {
    const claims = verified(
      operatorJwt({ operatorSeed: operator, name: 'uproll', systemAccount: publicKeyOf(account), issuedAt }),
    );
    expect(claims).toMatchObject({ iss: publicKeyOf(operator), sub: publicKeyOf(operator) });
    expect(claims.nats).toEqual({ type: 'operator', system_account: publicKeyOf(account), version: 2 });
    expect(claims['iat']).toBe(Math.floor(issuedAt.getTime() / 1000));
    expect(claims['jti']).toMatch(/^[A-Z2-7]{52}$/);
  });

  it('an account is signed by the operator, with JetStream, its signing keys and its revocations', () => {
    const claims = verified(
      accountJwt({
        operatorSeed: operator,
        account: publicKeyOf(account),
        name: 'UPROLL',
        issuedAt,
        jetstream: true,
        signingKeys: [publicKeyOf(signingKey)],
        revocations: { [publicKeyOf(user)]: 1234 },
      }),
    );
    expect(claims).toMatchObject({ iss: publicKeyOf(operator), sub: publicKeyOf(account) });
    expect(claims.nats).toMatchObject({
      type: 'account',
      limits: { disk_storage: -1, mem_storage: -1, streams: -1, consumer: -1 },
      signing_keys: [publicKeyOf(signingKey)],
      revocations: { [publicKeyOf(user)]: 1234 },
    });
  });

  it('a user signed by a signing key names its account and carries its permissions', () => {
    const claims = verified(
      userJwt({
        signerSeed: signingKey,
        account: publicKeyOf(account),
        user: publicKeyOf(user),
        name: 'dev-a',
        issuedAt,
        permissions: { publish: ['a.>'], subscribe: ['b.>'], responses: { max: 1, ttlMs: 60_000 } },
      }),
    );
    expect(claims).toMatchObject({ iss: publicKeyOf(signingKey), sub: publicKeyOf(user), name: 'dev-a' });
    expect(claims.nats).toMatchObject({
      type: 'user',
      issuer_account: publicKeyOf(account),
      pub: { allow: ['a.>'] },
      sub: { allow: ['b.>'] },
      resp: { max: 1, ttl: 60_000_000_000 },
    });
  });

  it('a user carries the limits it is given, and none without', () => {
    const signed = (limits?: { subscriptions: number; payloadBytes: number }) =>
      verified(
        userJwt({
          signerSeed: signingKey,
          account: publicKeyOf(account),
          user: publicKeyOf(user),
          name: 'dev-a',
          issuedAt,
          ...(limits ? { limits } : {}),
        }),
      ).nats;
    expect(signed({ subscriptions: 64, payloadBytes: 131_072 })).toMatchObject({
      subs: 64,
      payload: 131_072,
    });
    expect(signed()).toMatchObject({ subs: -1, payload: -1 });
  });

  it('a .creds file holds the JWT and the seed in the blocks NATS clients read', () => {
    const jwt = userJwt({
      signerSeed: account,
      account: publicKeyOf(account),
      user: publicKeyOf(user),
      name: 's',
      issuedAt,
    });
    const creds = natsCreds(jwt, user);
    expect(creds).toMatch(new RegExp(`-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------`));
    expect(creds).toMatch(
      new RegExp(`-----BEGIN USER NKEY SEED-----\n${user}\n------END USER NKEY SEED------`),
    );
  });
});
