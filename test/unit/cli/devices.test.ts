import { createPrivateKey } from 'node:crypto';
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { main as uproll } from '../../../cli/main.ts';
import { refreshRepository, TrustedRepository, tufPublicKey } from '../../../core/tuf/index.ts';
import { KeyStore, publicKeyOf, roleSigners } from '../../../keys/index.ts';
import { applyNatsConfig, findFreePort, writeSettings } from '../../../services/dev-stack/index.ts';
import type { DeviceBundle } from '../../../services/provisioning/index.ts';
import { deviceUserKeys, readNatsIdentity } from '../../../services/nats-auth/index.ts';
import { DirectorRepository } from '../../../services/director/index.ts';
import { captureIo } from '../../cli-io.ts';
import { memoryCache } from '../../helpers/tuf-client.ts';

let stateDir: string;
beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'uproll-cli-devices-'));
  process.env['TEST_OFFLINE_PASSPHRASE'] = 'offline passphrase';
  process.env['TEST_ONLINE_PASSPHRASE'] = 'online passphrase';
  const init = await run(
    ...['keys', 'init', '--offline-passphrase-env', 'TEST_OFFLINE_PASSPHRASE'],
    ...['--online-passphrase-env', 'TEST_ONLINE_PASSPHRASE'],
  );
  expect(init.status, init.stderr).toBe(0);
});

async function run(...argv: string[]) {
  const io = captureIo();
  const status = await uproll([...argv, '--state-dir', stateDir], io);
  return { status, stdout: io.stdout(), stderr: io.stderr() };
}

const provision = (deviceId: string, ...options: string[]) =>
  run(
    ...['devices', 'provision', deviceId, '--hardware-id', 'rpi4'],
    ...['--passphrase-env', 'TEST_ONLINE_PASSPHRASE', ...options],
  );

/** A local stack that was set up, as `dev up` leaves it (no server runs: nothing is sent to one). */
async function setUpStack() {
  await writeSettings(stateDir, {
    host: '127.0.0.1',
    namespace: 'default',
    ports: { temporal: 17233, nats: 14222, natsMonitor: 18222 },
  });
  await applyNatsConfig(stateDir, () => new Date());
}

const director = () => new DirectorRepository(join(stateDir, 'director'));
const bundleDir = (deviceId: string) => join(stateDir, 'devices', deviceId);
const bundleFile = (deviceId: string, file: string) => readFile(join(bundleDir(deviceId), file), 'utf8');
const natsConfig = () => readFile(join(stateDir, 'nats', 'nats.conf'), 'utf8');

/** The NATS user keys the device holds (each signed by the account, valid until revoked). */
const natsUsersOf = (deviceId: string) => deviceUserKeys(stateDir, deviceId);

/** The user keys the account in nats.conf refuses: what the server loads when it starts. */
async function revokedInNatsConfig(): Promise<string[]> {
  const config = JSON.parse(await natsConfig()) as { resolver_preload: Record<string, string> };
  const identity = await readNatsIdentity(stateDir);
  const account = Object.entries(config.resolver_preload).find(([, jwt]) => jwt === identity?.accountJwt);
  const claims = JSON.parse(Buffer.from(account![1].split('.')[1]!, 'base64url').toString()) as {
    nats: { revocations?: Record<string, number> };
  };
  return Object.keys(claims.nats.revocations ?? {}).sort();
}

/** A device's TUF client of its Director metadata, keeping what it trusts between updates as the agent does. */
async function directorClientOf(deviceId: string) {
  const metadata = join(stateDir, 'director', 'devices', deviceId, 'metadata');
  const anchor = await readFile(join(bundleDir(deviceId), 'director-root.json'));
  const trusted = memoryCache();
  const fetch = (file: string) => readFile(join(metadata, file)).catch(() => undefined);
  /** One update's refresh; resolves with the timestamp version it trusts after. */
  const refresh = async () => {
    const client = new TrustedRepository(trusted.files.get('root') ?? anchor, { name: 'director' });
    await refreshRepository(client, fetch, trusted, new Date());
    return client.timestamp?.signed.version;
  };
  return { refresh };
}

/** New targets for the device from the Director, as each assignment publishes. */
async function assignNothing(deviceId: string, times: number): Promise<void> {
  const store = new KeyStore(join(stateDir, 'keys'), { clock: () => new Date() });
  const signers = {
    targets: await roleSigners(store, 'director', 'targets', 'online passphrase'),
    snapshot: await roleSigners(store, 'director', 'snapshot', 'online passphrase'),
    timestamp: await roleSigners(store, 'director', 'timestamp', 'online passphrase'),
  };
  for (let i = 0; i < times; i++) await director().assign(deviceId, [], signers, new Date());
}

describe('uproll devices provision', () => {
  describe('when there is no NATS identity (neither `nats init` nor a local stack)', () => {
    it('refuses with NATS_NOT_INITIALIZED, naming nats init and --no-nats, and provisions nothing', async () => {
      const refused = await provision('dev-a');

      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(
        /^uproll: NATS_NOT_INITIALIZED: no NATS identity in .*`uproll nats init --url URL`.*--no-nats/,
      );
      expect(await director().knows('dev-a')).toBe(false);
      expect(await readdir(bundleDir('dev-a')).catch(() => [])).toEqual([]);
    });

    it('writes a bundle without NATS credentials when asked to with --no-nats', async () => {
      const provisioned = await provision('dev-a', '--no-nats');

      expect(provisioned.status, provisioned.stderr).toBe(0);
      expect(provisioned.stdout).toContain('no NATS credentials, as asked');
      // It says where the bundle to copy to the device is.
      expect(provisioned.stdout).toContain(`its bundle is in ${bundleDir('dev-a')}`);
      expect(JSON.parse(await bundleFile('dev-a', 'bundle.json'))).not.toHaveProperty('nats');
    });
  });

  describe('when the device id is provisioned already', () => {
    beforeEach(async () => {
      await setUpStack();
      expect((await provision('dev-a')).status).toBe(0);
    });

    it('refuses with DEVICE_EXISTS, naming --force, and changes nothing', async () => {
      const key = await bundleFile('dev-a', 'device.key');
      const users = await natsUsersOf('dev-a');

      const again = await provision('dev-a');

      expect(again.status).toBe(1);
      expect(again.stderr).toMatch(/^uproll: DEVICE_EXISTS: device dev-a is provisioned already: --force/);
      expect(await bundleFile('dev-a', 'device.key')).toBe(key);
      expect((await director().inventory('dev-a')).publicKey).toEqual(tufPublicKey(createPrivateKey(key)));
      expect(await natsUsersOf('dev-a')).toEqual(users);
    });

    describe('and it is provisioned again with --force', () => {
      it('gets a new identity, and the Director metadata it trusts counts on', async () => {
        await assignNothing('dev-a', 3);
        const device = await directorClientOf('dev-a');
        const trusted = await device.refresh();

        const again = await provision('dev-a', '--force');

        expect(again.status, again.stderr).toBe(0);
        expect(again.stdout).toContain(
          'earlier NATS credentials keep working until `uproll devices revoke dev-a`',
        );
        const key = createPrivateKey(await bundleFile('dev-a', 'device.key'));
        expect((await director().inventory('dev-a')).publicKey).toEqual(tufPublicKey(key));
        expect(await device.refresh()).toBeGreaterThan(trusted!);
      });

      it('keeps its earlier NATS credentials valid beside the new ones', async () => {
        const [before] = await natsUsersOf('dev-a');

        await provision('dev-a', '--force');

        const users = await natsUsersOf('dev-a');
        expect(users).toHaveLength(2);
        expect(users[0]).toBe(before);
      });
    });
  });
});

describe("uproll devices provision on a deployment's own NATS (`uproll nats init`)", () => {
  it('needs no local stack: the bundle names that NATS and holds a user JWT confined to the device', async () => {
    expect((await run('nats', 'init', '--url', 'nats://nats.example.com:4222')).status).toBe(0);

    const provisioned = await provision('dev-a');

    expect(provisioned.status, provisioned.stderr).toBe(0);
    const bundle = JSON.parse(await bundleFile('dev-a', 'bundle.json')) as DeviceBundle;
    expect(bundle.nats).toEqual({ servers: 'nats://nats.example.com:4222' });
    // A device that reaches NATS by another name is told that one.
    expect((await provision('dev-b', '--nats-url', 'tls://updates.example.com:4222')).status).toBe(0);
    expect((JSON.parse(await bundleFile('dev-b', 'bundle.json')) as DeviceBundle).nats?.servers).toBe(
      'tls://updates.example.com:4222',
    );
    expect((await provision('dev-c', '--nats-url', 'http://x')).status).toBe(2);
    expect((await stat(join(bundleDir('dev-a'), 'nats.creds'))).mode & 0o777).toBe(0o600);
    const jwt = /-----BEGIN NATS USER JWT-----\n(.+)\n/.exec(await bundleFile('dev-a', 'nats.creds'))![1]!;
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as {
      iss: string;
      sub: string;
      nats: Record<string, unknown>;
    };
    const identity = (await readNatsIdentity(stateDir))!;
    expect(claims.iss).toBe(publicKeyOf(identity.signingKeySeed));
    expect(await natsUsersOf('dev-a')).toEqual([claims.sub]);
    expect(claims.nats).toMatchObject({
      issuer_account: publicKeyOf(identity.accountSeed),
      pub: { allow: ['uproll.dev.dev-a.>'] },
      sub: { allow: ['uproll.cmd.dev-a.>', '_UPROLL_INBOX.dev-a.>'] },
      resp: { max: 1 },
    });
  });

  it('revoke records the revocation even when that NATS is out of reach, and says so with NATS_UPDATE_FAILED', async () => {
    const url = `nats://127.0.0.1:${await findFreePort()}`;
    expect((await run('nats', 'init', '--url', url)).status).toBe(0);
    await provision('dev-a');
    const keys = await natsUsersOf('dev-a');

    const revoked = await run('devices', 'revoke', 'dev-a');

    expect(revoked.status).toBe(1);
    expect(revoked.stderr).toMatch(
      /uproll: NATS_UPDATE_FAILED: dev-a's 1 key is revoked and recorded, but the account update did not reach NATS at .*`uproll nats push`/,
    );
    expect(revoked.stderr).toContain('audit: device.revoked kept in');
    expect(Object.keys((await readNatsIdentity(stateDir))!.revocations)).toEqual(keys);
    const pushed = await run('nats', 'push');
    expect(pushed.stderr).toMatch(/^uproll: NATS_UPDATE_FAILED: /);
  });
});

describe('uproll devices revoke', () => {
  it('revokes every NATS user of the device in the account the server loads, and no other', async () => {
    await setUpStack();
    await provision('dev-a');
    await provision('dev-a', '--force');
    await provision('dev-b');
    const keysOfA = await natsUsersOf('dev-a');

    const revoked = await run('devices', 'revoke', 'dev-a');

    expect(revoked).toMatchObject({ status: 0, stdout: 'revoked the NATS credentials of dev-a (2 keys)' });
    expect(await natsUsersOf('dev-a')).toEqual([]);
    // The Director keeps it, marked revoked: rollouts leave it out.
    expect(await director().revokedAmong(['dev-a', 'dev-b'])).toEqual(['dev-a']);
    expect(await revokedInNatsConfig()).toEqual([...keysOfA].sort());
    expect(await natsUsersOf('dev-b')).toHaveLength(1);
  });

  it('refuses a device without NATS credentials with DEVICE_NOT_FOUND', async () => {
    await setUpStack();
    const refused = await run('devices', 'revoke', 'dev-z');

    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^uproll: DEVICE_NOT_FOUND: device dev-z has no NATS credentials/);
  });
});
