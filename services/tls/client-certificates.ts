import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { issueDeviceCertificate } from '../../keys/index.ts';
import { writeFileAtomic } from '../../adapters/fs/index.ts';
import { serverTlsPaths } from './server-tls.ts';

/** The files of mTLS on NATS: whom the server lets present a certificate, and the services' own. */
export function clientTlsPaths(stateDir: string) {
  const { dir } = serverTlsPaths(stateDir);
  return {
    /** The server CA (the services' certificate) and the fleet CA (the devices'). */
    clientsCa: join(dir, 'clients-ca.crt'),
    servicesCertificate: join(dir, 'services-client.crt'),
    servicesKey: join(dir, 'services-client.key'),
  };
}

/**
 * What NATS needs to ask every client for a certificate: the CAs it accepts
 * (the fleet CA at `fleetCaFile`, which issued each device's, and the server
 * CA), and a client certificate for the services from the server CA (key
 * 0600). Call after `ensureServerTls`.
 */
export async function ensureClientTls(
  stateDir: string,
  options: { fleetCaFile: string; now: Date },
): Promise<ReturnType<typeof clientTlsPaths>> {
  const server = serverTlsPaths(stateDir);
  const paths = clientTlsPaths(stateDir);
  const [serverCa, fleetCa] = await Promise.all([
    readFile(server.caCertificate, 'utf8'),
    readFile(options.fleetCaFile, 'utf8'),
  ]);
  await writeFileAtomic(paths.clientsCa, `${serverCa.trim()}\n${fleetCa.trim()}\n`);
  const present = await readFile(paths.servicesCertificate).then(
    () => true,
    () => false,
  );
  if (!present) {
    const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    // A device-style client certificate (clientAuth), named for the services rather than a device.
    const certificate = issueDeviceCertificate({
      caKey: createPrivateKey(await readFile(server.caKey, 'utf8')),
      caCertificate: serverCa,
      deviceId: 'uproll-services',
      deviceKey: key,
      now: options.now,
    });
    await writeFileAtomic(paths.servicesKey, key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    await writeFileAtomic(paths.servicesCertificate, certificate);
  }
  return paths;
}
