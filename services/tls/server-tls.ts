import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { parseJson } from '../../core/index.ts';
import { createFleetCa, issueServerCertificate } from '../../keys/index.ts';
import { withFileLock, writeFileAtomic } from '../../adapters/fs/index.ts';

/** The names every local client reaches a server by; the operator's host names come on top. */
export const LOOPBACK_HOSTS = ['127.0.0.1', '::1', 'localhost'] as const;

const SECRET = 0o600;

/** Where a deployment keeps the CA its servers' certificates come from, and the certificate it issued. */
export function serverTlsPaths(stateDir: string) {
  const dir = join(stateDir, 'tls');
  return {
    dir,
    /** Public: devices and the services' clients trust it (the device bundle carries it). */
    caCertificate: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    certificate: join(dir, 'server.crt'),
    key: join(dir, 'server.key'),
    hosts: join(dir, 'server-hosts.json'),
  };
}

/** The PEM files a TLS server listens with, and the CA its clients verify it with. */
export interface ServerTlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

const hostsSchema = z.array(z.string().min(1).max(253)).max(64);

/**
 * The deployment's server certificate for `hosts` (plus the loopback names),
 * issued from its server CA. The CA is created on first use (its key 0600 in
 * `<state-dir>/tls/`, like the NATS identity's seeds); the certificate is
 * issued again only when the names change, so clients keep one CA for good.
 */
export async function ensureServerTls(
  stateDir: string,
  options: { hosts?: readonly string[]; now: Date },
): Promise<ServerTlsFiles> {
  const paths = serverTlsPaths(stateDir);
  // A wildcard bind address is where a server listens, not a name a client reaches it by.
  const named = (options.hosts ?? []).filter((host) => host !== '0.0.0.0' && host !== '::');
  const hosts = [...new Set([...LOOPBACK_HOSTS, ...named])];
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  await withFileLock(paths.caKey, async () => {
    const caKeyPem = await readFile(paths.caKey, 'utf8').catch(() => undefined);
    let caKey = caKeyPem === undefined ? undefined : createPrivateKey(caKeyPem);
    let caCertificate = caKey && (await readFile(paths.caCertificate, 'utf8'));
    if (!caKey || !caCertificate) {
      caKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      caCertificate = createFleetCa(caKey, options.now, { name: 'Uproll deployment server CA' });
      await writeFileAtomic(paths.caKey, caKey.export({ type: 'pkcs8', format: 'pem' }), { mode: SECRET });
      await writeFileAtomic(paths.caCertificate, caCertificate);
    }
    const issuedFor = await readFile(paths.hosts)
      .then((bytes) => parseJson(hostsSchema, bytes, { maxBytes: 64 * 1024, what: paths.hosts }))
      .catch(() => undefined);
    const current = await readFile(paths.certificate).then(
      () => true,
      () => false,
    );
    if (current && caKeyPem !== undefined && issuedFor?.join(',') === hosts.join(',')) return;
    const serverKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const certificate = issueServerCertificate({ caKey, caCertificate, serverKey, hosts, now: options.now });
    await writeFileAtomic(paths.key, serverKey.export({ type: 'pkcs8', format: 'pem' }), { mode: SECRET });
    await writeFileAtomic(paths.certificate, certificate);
    await writeFileAtomic(paths.hosts, `${JSON.stringify(hosts)}\n`);
  });
  return { caFile: paths.caCertificate, certFile: paths.certificate, keyFile: paths.key };
}

/** The deployment's server CA certificate, when it has one: what its clients trust. */
export async function serverCaFile(stateDir: string): Promise<string | undefined> {
  const file = serverTlsPaths(stateDir).caCertificate;
  return readFile(file).then(
    () => file,
    () => undefined,
  );
}
