import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runUproll } from '../helpers/cli-process.ts';
import { subjects } from '../../core/index.ts';
import { findFreePort, requireSettings, stackAddresses } from '../../services/dev-stack/index.ts';
import { connectToNats, readPresence } from '../../services/nats/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { ownNatsServer } from '../helpers/own-nats-server.ts';
import { uniqueId } from './harness.ts';

// An operator's own nats-server, as the README's "A first real deployment" sets it up: `uproll nats
// init` and `uproll nats config` write its configuration, the server is started from that file
// alone (this file's own, on free loopback ports), `uproll serve` runs against it and the suite's
// Temporal, and devices provisioned afterwards connect without the server being told about them.

let stateDir: string;
let work: string;
let natsServer: Awaited<ReturnType<typeof ownNatsServer>>;
let natsUrl: string;
const running: ChildProcess[] = [];
const connections: NatsConnection[] = [];
const env = (): NodeJS.ProcessEnv => ({
  ...process.env,
  UPROLL_STATE_DIR: stateDir,
  UPROLL_BY: 'alice@example.com',
  OFFLINE_PASS: 'offline passphrase of the test',
  ONLINE_PASS: 'online passphrase of the test',
});

/** Runs `uproll ARGS` to its end. */
const uproll = (...args: string[]) => runUproll(args, env());

/** The deployment's server CA: the operator's server speaks TLS with a certificate from it. */
const serverCa = () => ({ caFile: join(stateDir, 'tls', 'ca.crt') });

/** Connects as a device with the credentials in its bundle, as its agent does. */
async function connectAsDevice(deviceId: string): Promise<NatsConnection> {
  const nc = await connectToNats({
    servers: natsUrl,
    tls: serverCa(),
    nkeySeed: await readFile(join(stateDir, 'devices', deviceId, 'nats.creds'), 'utf8'),
    name: deviceId,
    inboxPrefix: subjects.deviceInboxPrefix(deviceId),
  });
  connections.push(nc);
  return nc;
}

async function connectAsServices(): Promise<NatsConnection> {
  const nc = await connectToNats({
    servers: natsUrl,
    nkeySeed: await readFile(join(stateDir, 'nats', 'services.creds'), 'utf8'),
    name: 'own-nats-server-test',
    tls: serverCa(),
  });
  connections.push(nc);
  return nc;
}

/** What a plain-text client sees: it sends CONNECT and PING and reads until the server hangs up. */
async function plainTextExchange(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  let seen = '';
  socket.on('data', (chunk: Buffer) => {
    seen += chunk.toString();
    if (seen.includes('\r\n') && !socket.writableEnded) socket.end('CONNECT {}\r\nPING\r\n');
  });
  socket.on('error', () => undefined);
  await once(socket, 'close');
  expect(seen).toMatch(/^INFO .*"tls_required":true/);
  return seen;
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'uproll-own-nats-'));
  work = await mkdtemp(join(tmpdir(), 'uproll-own-nats-work-'));
  natsServer = await ownNatsServer(work);
  natsUrl = natsServer.url;
  const keys = await uproll(
    ...['keys', 'init', '--offline-passphrase-env', 'OFFLINE_PASS', '--online-passphrase-env', 'ONLINE_PASS'],
  );
  expect(keys.status, keys.stderr).toBe(0);
}, 60_000);
afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close()));
  for (const child of running.reverse()) {
    if (child.exitCode !== null) continue;
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
  await natsServer.stop();
  await rm(stateDir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
}, 60_000);

describe("a deployment on the operator's own nats-server", () => {
  const deviceA = uniqueId('own-a');
  const deviceB = uniqueId('own-b');

  it('nats init creates the identity, its secrets at mode 0600, and prints no seed', async () => {
    const init = await uproll('nats', 'init', '--url', natsUrl);

    expect(init.status, init.stderr).toBe(0);
    expect(init.stdout).toContain(`created the NATS identity in ${join(stateDir, 'nats')}`);
    expect(init.stdout + init.stderr).not.toMatch(/\bS[OAU][A-Z2-7]{56}\b/);
    for (const file of ['identity.json', 'services.creds', 'system.creds'])
      expect((await stat(join(stateDir, 'nats', file))).mode & 0o777).toBe(0o600);
  });

  it('nats config writes a configuration the server starts from as it is, TLS only', async () => {
    const written = await uproll('nats', 'config', ...natsServer.configArgs);
    expect(written.status, written.stderr).toBe(0);
    const config = await readFile(natsServer.configFile, 'utf8');
    expect(config).not.toMatch(/\bS[OAU][A-Z2-7]{56}\b/);
    expect((await stat(join(work, 'nats-server.key'))).mode & 0o777).toBe(0o600);

    await natsServer.start();

    // A client that does not speak TLS gets no further than the server's INFO.
    expect(await plainTextExchange(natsUrl)).not.toContain('PONG');
  });

  it('uproll serve runs against it, and provisioned agents connect with the server told nothing', async () => {
    const suite = stackAddresses(await requireSettings(inject('integration').stateDir));
    const [imagePort, directorPort] = [await findFreePort(), await findFreePort()];
    // No worker: the suite's Temporal task queue belongs to the other test files' workers.
    const serve = spawn(
      process.execPath,
      [
        ...['bin/uproll.js', 'serve', '--json', '--only', 'image,director,bridge,projector,reports'],
        ...['--temporal', suite.temporal, '--nats', natsUrl],
        ...['--nats-seed-file', join(stateDir, 'nats', 'services.creds')],
        ...['--image-port', String(imagePort), '--director-port', String(directorPort)],
      ],
      { env: env(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running.push(serve);
    let serveErr = '';
    serve.stderr.on('data', (chunk: Buffer) => (serveErr += chunk.toString()));
    const ready = await Promise.race([
      once(createInterface({ input: serve.stdout }), 'line').then(([line]) => line as string),
      once(serve, 'exit').then(([code]) => `exited ${String(code)}: ${serveErr}`),
    ]);
    expect(ready).toMatch(/"ready":true/);

    for (const deviceId of [deviceA, deviceB]) {
      const provisioned = await uproll(
        ...['devices', 'provision', deviceId, '--hardware-id', 'rpi4', '--passphrase-env', 'ONLINE_PASS'],
        ...['--image-url', `https://127.0.0.1:${imagePort}`],
        ...['--director-url', `https://127.0.0.1:${directorPort}`],
      );
      expect(provisioned.status, provisioned.stderr).toBe(0);
    }
    const bundle = JSON.parse(await readFile(join(stateDir, 'devices', deviceA, 'bundle.json'), 'utf8')) as {
      nats: { servers: string; tls?: boolean };
    };
    expect(bundle.nats).toEqual({ servers: natsUrl, tls: true });
    expect(await readFile(join(stateDir, 'devices', deviceA, 'server-ca.crt'), 'utf8')).toBe(
      await readFile(serverCa().caFile, 'utf8'),
    );

    const dataDir = join(work, deviceA);
    await mkdir(dataDir);
    running.push(
      spawn(
        process.execPath,
        ['bin/uproll-agent.js', '--bundle', join(stateDir, 'devices', deviceA), '--data-dir', dataDir],
        { env: env(), stdio: 'ignore' },
      ),
    );
    // Its first heartbeat reached serve's presence tracker through the operator's server.
    const services = await connectAsServices();
    const presence = await eventually(`${deviceA}'s heartbeat in the presence view`, async () => {
      const seen = await readPresence(services, [deviceA]);
      return seen[deviceA];
    });
    expect(presence.revision).toBeNull();
  }, 120_000);

  it("a second device's credentials cannot publish on the first device's subjects, nor read its commands", async () => {
    const b = await connectAsDevice(deviceB);
    const violations: string[] = [];
    void (async () => {
      for await (const status of b.status())
        if (status.type === 'error') violations.push(String(status.error));
    })();
    const services = await connectAsServices();
    const seen: string[] = [];
    const sub = services.subscribe(subjects.telemetry(deviceA), {
      callback: (err, msg) => void (err ? undefined : seen.push(msg.string())),
    });
    await services.flush();

    b.publish(subjects.telemetry(deviceA), 'forged');
    b.publish(subjects.telemetry(deviceB), 'its own');
    await b.flush();
    await services.flush();
    const commands = b.subscribe(subjects.allCommands(deviceA));
    await b.flush();

    expect(await commands.closed).toBeInstanceOf(Error);
    sub.unsubscribe();
    expect(seen).toEqual([]);
    expect(violations.join('\n')).toContain(`Publish to "${subjects.telemetry(deviceA)}"`);
  });

  it('devices revoke drops the device at once, and it stays refused after the server restarts', async () => {
    const a = await connectAsDevice(deviceA);
    const dropped = (async () => {
      for await (const status of a.status()) if (status.type === 'disconnect') return status.type;
      return 'closed without a disconnect';
    })();

    const revoked = await uproll('devices', 'revoke', deviceA);

    expect(revoked.status, revoked.stderr).toBe(0);
    expect(await dropped).toBe('disconnect');
    await expect(connectAsDevice(deviceA)).rejects.toThrow(/authorization/i);
    // Restarted from the file written before the revocation: the resolver kept the newer account.
    await natsServer.stop();
    await natsServer.start();
    await expect(connectAsDevice(deviceA)).rejects.toThrow(/authorization/i);
    await expect(connectAsDevice(deviceB)).resolves.toBeDefined();
  }, 60_000);
});
