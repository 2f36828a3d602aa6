import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDeviceBundle } from '../../../agent/index.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uproll-bundle-tls-'));
  const key = generateKeyPairSync('ed25519').privateKey;
  await writeFile(join(dir, 'device.key'), key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  for (const name of ['image-root.json', 'director-root.json']) await writeFile(join(dir, name), '{}');
  await writeFile(join(dir, 'nats.creds'), 'SU' + 'A'.repeat(56));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function bundleWith(nats: Record<string, unknown>, files: Record<string, string> = {}) {
  await writeFile(
    join(dir, 'bundle.json'),
    JSON.stringify({
      deviceId: 'dev-1',
      ecus: [{ serial: 's', hardwareId: 'hw' }],
      files: {
        deviceKey: 'device.key',
        tlsKey: 'tls.key',
        tlsCertificate: 'tls.crt',
        caCertificate: 'ca.crt',
        imageRoot: 'image-root.json',
        directorRoot: 'director-root.json',
        natsSeed: 'nats.creds',
        ...files,
      },
      nats: { servers: '127.0.0.1:4222', ...nats },
      repositories: {
        imageMetadataUrl: 'https://u.example.com/metadata/',
        imageTargetsUrl: 'https://u.example.com/targets/',
        directorMetadataUrl: 'https://u.example.com/devices/dev-1/metadata/',
      },
    }),
  );
  return loadDeviceBundle(dir);
}

describe('the TLS a device bundle asks for', () => {
  it('verifies the servers with the server CA the bundle carries, for NATS and the repositories', async () => {
    const identity = await bundleWith({ tls: true }, { serverCa: 'server-ca.crt' });
    expect(identity.serverCaFile).toBe(join(dir, 'server-ca.crt'));
    expect(identity.nats?.tls).toEqual({ caFile: join(dir, 'server-ca.crt') });
  });

  it('presents the device certificate only when the bundle says mtls', async () => {
    const identity = await bundleWith({ tls: true, mtls: true }, { serverCa: 'server-ca.crt' });
    expect(identity.nats?.tls).toEqual({
      caFile: join(dir, 'server-ca.crt'),
      certFile: join(dir, 'tls.crt'),
      keyFile: join(dir, 'tls.key'),
    });
  });

  it('speaks plain text to NATS only when the bundle does not ask for TLS', async () => {
    const identity = await bundleWith({});
    expect(identity.nats).not.toHaveProperty('tls');
    expect(identity).not.toHaveProperty('serverCaFile');
  });
});
