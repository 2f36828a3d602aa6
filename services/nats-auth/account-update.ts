import { readFile } from 'node:fs/promises';
import { connect, credsAuthenticator } from '@nats-io/transport-node';
import { z } from 'zod';
import { parseJson, UprollError } from '../../core/index.ts';
import { natsIdentityPaths, type NatsIdentity } from './deployment-identity.ts';

/** nats-server's answer to a pushed account JWT. */
const replySchema = z.object({
  data: z.object({ code: z.int(), message: z.string().max(1024).optional() }).optional(),
  error: z.object({ code: z.int().optional(), description: z.string().max(1024).optional() }).optional(),
});

/** PEM paths a client verifies a TLS server with (and, for mTLS, its own certificate and key). */
export interface NatsClientTls {
  caFile: string;
  certFile?: string;
  keyFile?: string;
}

/**
 * Sends the account JWT (with its revocations) to the deployment's NATS as
 * the system user; the server (and, through its resolver, its cluster)
 * applies it at once and closes the connections of revoked users.
 * NATS_UPDATE_FAILED when no server took it.
 */
export async function pushAccountJwt(
  stateDir: string,
  identity: NatsIdentity,
  servers: string,
  options: { timeoutMs?: number; tls?: NatsClientTls } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const creds = await readFile(natsIdentityPaths(stateDir).systemCreds);
  const failed = (why: string, cause?: unknown) =>
    new UprollError('NATS_UPDATE_FAILED', `the account update did not reach NATS at ${servers}: ${why}`, {
      cause,
    });
  const nc = await connect({
    servers: servers.split(','),
    authenticator: credsAuthenticator(creds),
    name: 'uproll-account-update',
    reconnect: false,
    timeout: timeoutMs,
    ...(options.tls ? { tls: options.tls } : {}),
  }).catch((err: unknown) => {
    throw failed((err as Error).message, err);
  });
  try {
    const reply = await nc
      .request('$SYS.REQ.CLAIMS.UPDATE', identity.accountJwt, { timeout: timeoutMs })
      .catch((err: unknown) => {
        throw failed((err as Error).message, err);
      });
    const answer = parseJson(replySchema, reply.data, { maxBytes: 64 * 1024, what: 'the NATS reply' });
    if (answer.data?.code !== 200)
      throw failed(answer.error?.description ?? answer.data?.message ?? 'the server refused it');
  } finally {
    await nc.close();
  }
}
