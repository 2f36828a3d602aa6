import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { parseJson } from '../../core/index.ts';
import { writeFileAtomic } from '../../adapters/fs/index.ts';
import { serverTlsPaths } from '../tls/index.ts';
import type { NatsClientTls } from './account-update.ts';
import { natsIdentityPaths } from './deployment-identity.ts';

/**
 * How the operator's own nats-server speaks, as the last `uproll nats config`
 * wrote it: TLS (with a certificate from the state dir's server CA, or the
 * operator's own) or plain text (`--insecure`). Provisioning and the
 * services' clients read it, so bundles and clients match the server.
 */
const ownNatsTlsSchema = z.object({
  tls: z.boolean(),
  /** The certificate comes from `<state-dir>/tls/ca.crt`: clients verify it with that CA. */
  stateCa: z.boolean(),
});
export type OwnNatsTls = z.infer<typeof ownNatsTlsSchema>;

function ownNatsTlsFile(stateDir: string): string {
  return join(natsIdentityPaths(stateDir).dir, 'server-tls.json');
}

export async function recordOwnNatsTls(stateDir: string, record: OwnNatsTls): Promise<void> {
  await writeFileAtomic(ownNatsTlsFile(stateDir), `${JSON.stringify(record)}\n`);
}

/** Undefined when `uproll nats config` never wrote a configuration from this state dir. */
export async function readOwnNatsTls(stateDir: string): Promise<OwnNatsTls | undefined> {
  const file = ownNatsTlsFile(stateDir);
  const bytes = await readFile(file).catch(() => undefined);
  return bytes && parseJson(ownNatsTlsSchema, bytes, { maxBytes: 4096, what: file });
}

/**
 * What a client of the operator's own nats-server verifies it with: the state
 * dir's server CA when the certificate came from it; undefined for plain text
 * or the operator's own certificate (a system CA, or --nats-ca-file).
 */
export async function ownNatsClientTls(stateDir: string): Promise<NatsClientTls | undefined> {
  const record = await readOwnNatsTls(stateDir);
  return record?.tls && record.stateCa ? { caFile: serverTlsPaths(stateDir).caCertificate } : undefined;
}
