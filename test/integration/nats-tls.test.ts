import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { connect as connectTcp } from 'node:net';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadDeviceBundle } from '../../agent/index.ts';
import { subjects } from '../../core/index.ts';
import { createFleetCa, issueDeviceCertificate } from '../../keys/index.ts';
import {
  findFreePort,
  localNatsTls,
  provisionNatsDevice,
  requireSettings,
  serviceCredentials,
  stackAddresses,
  stackPaths,
  startLocalStack,
  stopLocalStack,
} from '../../services/dev-stack/index.ts';
import { fromSeed } from '@nats-io/nkeys';
import { connectToNats } from '../../services/nats/index.ts';
import { ensureServerTls, serverTlsPaths } from '../../services/tls/index.ts';
import { startSimulatedRepositories, type SimulatedRepositories } from '../../sim/index.ts';
import { uniqueId } from './harness.ts';

const { stateDir } = inject('integration');
const clock = () => new Date();
let work: string;
let repos: SimulatedRepositories;
let natsUrl: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'uproll-nats-tls-'));
  repos = await startSimulatedRepositories(join(work, 'repositories'));
  natsUrl = stackAddresses(await requireSettings(stateDir)).nats;
});
afterAll(async () => {
  await repos.close();
  await rm(work, { recursive: true, force: true });
});

/**
 * A NATS session in plain text, by hand: read INFO, send a CONNECT signed
 * with the user's seed and a PING. Returns the INFO line and whether the
 * server answered PONG (it let the client in).
 */
async function plainTextSession(address: string, creds: string): Promise<{ info: string; pong: boolean }> {
  const colon = address.lastIndexOf(':');
  const socket = connectTcp({ host: address.slice(0, colon), port: Number(address.slice(colon + 1)) });
  let received = '';
  const ended = new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.on('error', () => resolve());
  });
  socket.on('data', (chunk: Buffer) => {
    const first = received === '';
    received += chunk.toString('latin1');
    if (first) {
      const info = JSON.parse(received.slice(5, received.indexOf('\r\n'))) as { nonce?: string };
      const user = fromSeed(new TextEncoder().encode(/SU[A-Z2-7]{56}/.exec(creds)![0]));
      const jwt = /-----BEGIN NATS USER JWT-----\n(.+)\n/.exec(creds)![1]!;
      const sig = Buffer.from(user.sign(new TextEncoder().encode(info.nonce ?? ''))).toString('base64url');
      socket.write(`CONNECT ${JSON.stringify({ verbose: false, protocol: 1, jwt, sig })}\r\nPING\r\n`);
    } else if (received.includes('PONG') || received.includes('-ERR')) socket.destroy();
  });
  await ended;
  return { info: received.split('\r\n')[0] ?? '', pong: received.includes('PONG') };
}

describe('NATS on the dev stack speaks TLS only', () => {
  it("lets a device in over TLS with the server CA its bundle carries, and tells it the server's name checked out", async () => {
    const deviceId = uniqueId('tls-dev');
    const { credentials: seed } = await provisionNatsDevice(stateDir, deviceId, { clock });
    const bundleDir = join(work, deviceId);
    await repos.enroll(deviceId, {
      nats: { servers: natsUrl, seed, tls: await localNatsTls(stateDir) },
      bundleDir,
    });
    const identity = await loadDeviceBundle(bundleDir);
    expect(identity.nats?.tls?.caFile).toBe(join(bundleDir, 'server-ca.crt'));

    const nc = await connectToNats({
      ...identity.nats!,
      name: deviceId,
      inboxPrefix: subjects.deviceInboxPrefix(deviceId),
    });
    try {
      expect(nc.info?.tls_required).toBe(true);
      await nc.flush();
    } finally {
      await nc.close();
    }
  });

  it('refuses a client that does not trust the CA: the system trust store, or another CA', async () => {
    const seed = await serviceCredentials(stateDir);
    await expect(
      connectToNats({ servers: natsUrl, nkeySeed: seed, name: 'no-ca', timeoutMs: 5000 }),
    ).rejects.toThrow(/certificate/i);
    const other = await ensureServerTls(join(work, 'other-deployment'), { now: new Date() });
    await expect(
      connectToNats({
        servers: natsUrl,
        nkeySeed: seed,
        name: 'other-ca',
        timeoutMs: 5000,
        tls: { caFile: other.caFile },
      }),
    ).rejects.toThrow(/certificate/i);
  });

  it('refuses plain text: valid credentials sent without TLS get no PONG', async () => {
    const session = await plainTextSession(natsUrl, await serviceCredentials(stateDir));
    expect(session.info).toContain('"tls_required":true');
    expect(session.pong).toBe(false);
  });

  it("keeps the CA's and the server's private keys at 0600", async () => {
    const paths = serverTlsPaths(stateDir);
    for (const key of [paths.caKey, paths.key]) expect((await stat(key)).mode & 0o777).toBe(0o600);
    expect(await readFile(stackPaths(stateDir).nats.log, 'utf8')).not.toContain('PRIVATE KEY');
  });
});

describe('a dev stack started --insecure', () => {
  let insecureDir: string;
  beforeAll(async () => {
    insecureDir = await mkdtemp(join(tmpdir(), 'uproll-nats-insecure-'));
    const ports = {
      nats: await findFreePort(),
      natsMonitor: await findFreePort(),
      temporal: await findFreePort(),
    };
    await startLocalStack({ stateDir: insecureDir, ports, clock, natsOnly: true, insecure: true });
  });
  afterAll(async () => {
    await stopLocalStack(insecureDir);
    await rm(insecureDir, { recursive: true, force: true });
  });

  it('speaks plain text, as asked, and has no TLS files', async () => {
    const address = stackAddresses(await requireSettings(insecureDir)).nats;
    const session = await plainTextSession(address, await serviceCredentials(insecureDir));
    expect(session.pong).toBe(true);
    expect(await localNatsTls(insecureDir)).toBeUndefined();
  });
});

describe('a dev stack started with mTLS', () => {
  let mtlsDir: string;
  let fleetCa: { key: KeyObject; certificate: string };
  beforeAll(async () => {
    mtlsDir = await mkdtemp(join(tmpdir(), 'uproll-nats-mtls-'));
    const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    fleetCa = { key, certificate: createFleetCa(key, new Date()) };
    await writeFile(join(mtlsDir, 'fleet-ca.crt'), fleetCa.certificate);
    const ports = {
      nats: await findFreePort(),
      natsMonitor: await findFreePort(),
      temporal: await findFreePort(),
    };
    await startLocalStack({
      stateDir: mtlsDir,
      ports,
      clock,
      natsOnly: true,
      mtls: { fleetCaFile: join(mtlsDir, 'fleet-ca.crt') },
    });
  });
  afterAll(async () => {
    await stopLocalStack(mtlsDir);
    await rm(mtlsDir, { recursive: true, force: true });
  });

  it('lets in a device presenting its certificate from the fleet CA, and refuses one without', async () => {
    const deviceId = uniqueId('mtls-dev');
    const { credentials } = await provisionNatsDevice(mtlsDir, deviceId, { clock });
    const address = stackAddresses(await requireSettings(mtlsDir)).nats;
    const { caFile } = (await localNatsTls(mtlsDir))!;
    const deviceKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const certFile = join(mtlsDir, 'device.crt');
    const keyFile = join(mtlsDir, 'device.key');
    await writeFile(
      certFile,
      issueDeviceCertificate({
        caKey: fleetCa.key,
        caCertificate: fleetCa.certificate,
        deviceId,
        deviceKey,
        now: new Date(),
      }),
    );
    await writeFile(keyFile, deviceKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const device = {
      servers: address,
      nkeySeed: credentials,
      name: deviceId,
      inboxPrefix: subjects.deviceInboxPrefix(deviceId),
    };

    const nc = await connectToNats({ ...device, tls: { caFile, certFile, keyFile } });
    await nc.flush();
    await nc.close();
    await expect(connectToNats({ ...device, timeoutMs: 5000, tls: { caFile } })).rejects.toThrow();
    // The services connect with their own client certificate, from the server CA.
    const services = await connectToNats({
      servers: address,
      nkeySeed: await serviceCredentials(mtlsDir),
      name: 'services',
      tls: await localNatsTls(mtlsDir),
    });
    await services.flush();
    await services.close();
  });
});
