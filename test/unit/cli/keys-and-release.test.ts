import { createPrivateKey } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main as uprollTuf } from '../../../cli/tuf/main.ts';
import { startRepositoryServer, type RepositoryServer } from '../../../services/image-repo/index.ts';
import { captureIo } from '../../cli-io.ts';
import { keyCli } from '../../helpers/key-cli.ts';
import { tufPublicKey } from '../../../core/tuf/index.ts';
import { isIssuedBy } from '../../../keys/index.ts';
import { applyNatsConfig, writeSettings } from '../../../services/dev-stack/index.ts';
import { DirectorRepository } from '../../../services/director/index.ts';
import { loadDeviceBundle } from '../../../agent/index.ts';
import type { StateRevision } from '../../../core/index.ts';

let stateDir: string;
let run: Awaited<ReturnType<typeof keyCli>>['run'];
let init: () => ReturnType<typeof run>;
let server: RepositoryServer | undefined;
beforeEach(async () => {
  const cli = await keyCli();
  ({ stateDir, run, init } = cli);
});
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('uproll keys and release', () => {
  it('creates the keys, publishes a release, and a TUF client downloads it', async () => {
    const created = await init();
    expect(created.status).toBe(0);
    const listed = JSON.parse((await run('keys', 'list', '--json')).stdout) as {
      repository: string;
      role: string;
      online: boolean;
    }[];
    expect(
      listed
        .filter((k) => k.repository !== 'image')
        .map((k) => `${k.repository}:${k.role}:${k.online ? 'online' : 'offline'}`)
        .sort(),
    ).toEqual([
      'director:root:offline',
      'director:root:offline',
      'director:root:offline',
      'director:snapshot:online',
      'director:targets:online',
      'director:timestamp:online',
      'fleet:api:online',
      'fleet:ca:online',
    ]);
    expect(
      listed
        .filter((k) => k.repository === 'image')
        .map((k) => `${k.role}:${k.online ? 'online' : 'offline'}`)
        .sort(),
    ).toEqual([
      'releases:online',
      'root:offline',
      'root:offline',
      'root:offline',
      'snapshot:online',
      'targets:offline',
      'timestamp:online',
    ]);

    const artifact = join(stateDir, 'app.bin');
    await writeFile(artifact, 'app v7');
    const published = await run(
      'release',
      'publish',
      artifact,
      '--hardware-id',
      'rpi4',
      '--hardware-id',
      'imx8',
      '--release-counter',
      '7',
      '--passphrase-env',
      'TEST_ONLINE_PASSPHRASE',
    );
    expect(published).toMatchObject({
      status: 0,
      stdout: 'published app.bin: releases v2, snapshot v2, timestamp v2',
    });
    const trail = JSON.parse((await run('keys', 'audit', '--json')).stdout) as { role: string }[];
    expect(trail.slice(-3).map((e) => e.role)).toEqual(['releases', 'snapshot', 'timestamp']);
    const again = await run(
      ...['release', 'publish', artifact, '--hardware-id', 'rpi4', '--hardware-id', 'imx8'],
      ...['--release-counter', '7', '--passphrase-env', 'TEST_ONLINE_PASSPHRASE'],
    );
    expect(again).toMatchObject({
      status: 0,
      stdout: 'app.bin: already published with this content, nothing changed',
    });

    server = await startRepositoryServer({ dir: join(stateDir, 'image-repo') });
    const client = join(stateDir, 'client');
    const io = captureIo();
    await uprollTuf(
      ['--metadata-dir', client, 'init', join(stateDir, 'image-repo', 'metadata', '1.root.json')],
      io,
    );
    const status = await uprollTuf(
      [
        '--metadata-dir',
        client,
        '--metadata-url',
        server.metadataUrl,
        '--target-name',
        'app.bin',
        '--target-base-url',
        server.targetsUrl,
        '--target-dir',
        join(client, 'targets'),
        'download',
      ],
      io,
    );
    expect(io.stderr()).toBe('');
    expect(status).toBe(0);
    expect(await readFile(join(client, 'targets', 'app.bin'), 'utf8')).toBe('app v7');
  });

  it('refuses a second init over existing keys', async () => {
    await init();
    const again = await init();
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/INVALID_INPUT: .* already holds Image repository keys/);
  });

  it('publishes nothing with a wrong passphrase', async () => {
    await init();
    process.env['TEST_ONLINE_PASSPHRASE'] = 'a wrong passphrase';
    const artifact = join(stateDir, 'app.bin');
    await writeFile(artifact, 'app');
    const failed = await run(
      'release',
      'publish',
      artifact,
      '--hardware-id',
      'rpi4',
      '--release-counter',
      '1',
      '--passphrase-env',
      'TEST_ONLINE_PASSPHRASE',
    );
    expect(failed.status).toBe(1);
    expect(failed.stderr).toMatch(/^uproll: WRONG_PASSPHRASE: /);
    const timestamp = JSON.parse(
      await readFile(join(stateDir, 'image-repo', 'metadata', 'timestamp.json'), 'utf8'),
    ) as { signed: { version: number } };
    expect(timestamp.signed.version).toBe(1);
  });

  it('never takes a passphrase it cannot find', async () => {
    const failed = await run(
      'keys',
      'init',
      '--offline-passphrase-env',
      'NO_SUCH_VARIABLE',
      '--online-passphrase-env',
      'TEST_ONLINE_PASSPHRASE',
    );
    expect(failed.status).toBe(1);
    expect(failed.stderr).toContain('NO_SUCH_VARIABLE');
  });
});

describe('uproll key ceremonies', () => {
  const both = [
    '--offline-passphrase-env',
    'TEST_OFFLINE_PASSPHRASE',
    '--online-passphrase-env',
    'TEST_ONLINE_PASSPHRASE',
  ];

  it('rotates every online and offline role and keeps publishing verifiable', async () => {
    await init();
    for (const role of ['timestamp', 'snapshot', 'targets', 'releases']) {
      const rotated = await run('keys', 'rotate', '--role', role, ...both);
      expect(rotated.status, rotated.stderr).toBe(0);
    }
    const keys = JSON.parse((await run('keys', 'list', '--json')).stdout) as {
      role: string;
      revoked?: unknown;
    }[];
    expect(
      keys
        .filter((k) => k.revoked)
        .map((k) => k.role)
        .sort(),
    ).toEqual(['releases', 'snapshot', 'targets', 'timestamp']);
    const artifact = join(stateDir, 'app.bin');
    await writeFile(artifact, 'app');
    expect(
      (
        await run(
          'release',
          'publish',
          artifact,
          '--hardware-id',
          'x',
          '--release-counter',
          '1',
          '--passphrase-env',
          'TEST_ONLINE_PASSPHRASE',
        )
      ).status,
    ).toBe(0);
    server = await startRepositoryServer({ dir: join(stateDir, 'image-repo') });
    const io = captureIo();
    const client = join(stateDir, 'client');
    await uprollTuf(
      ['--metadata-dir', client, 'init', join(stateDir, 'image-repo', 'metadata', '1.root.json')],
      io,
    );
    expect(
      await uprollTuf(['--metadata-dir', client, '--metadata-url', server.metadataUrl, 'refresh'], io),
    ).toBe(0);
  });

  it('runs a root change ceremony: propose, sign one holder at a time, publish when complete', async () => {
    await init();
    const roots = (
      JSON.parse((await run('keys', 'list', '--json')).stdout) as {
        role: string;
        keyId: string;
        repository: string;
      }[]
    ).filter((k) => k.role === 'root' && k.repository === 'image');
    const proposal = join(stateDir, 'root-2.json');
    expect((await run('keys', 'root', 'propose', '--out', proposal, '--threshold', 'root=3')).status).toBe(0);
    for (const root of roots) {
      expect((await run('keys', 'root', 'status', proposal)).status).toBe(3);
      const publishEarly = await run(
        'keys',
        'root',
        'publish',
        proposal,
        '--passphrase-env',
        'TEST_ONLINE_PASSPHRASE',
      );
      expect(publishEarly.stderr).toMatch(/CEREMONY_INCOMPLETE/);
      expect(
        (
          await run(
            'keys',
            'root',
            'sign',
            proposal,
            '--key',
            root.keyId,
            '--passphrase-env',
            'TEST_OFFLINE_PASSPHRASE',
          )
        ).status,
      ).toBe(0);
    }
    expect((await run('keys', 'root', 'status', proposal)).status).toBe(0);
    expect(
      (await run('keys', 'root', 'publish', proposal, '--passphrase-env', 'TEST_ONLINE_PASSPHRASE')).stdout,
    ).toBe('published root v2');
  });

  it('revokes a key by a prefix of its id, rotating it out of its role first', async () => {
    await init();
    const timestamp = (
      JSON.parse((await run('keys', 'list', '--json')).stdout) as { role: string; keyId: string }[]
    ).find((k) => k.role === 'timestamp')!;
    const revoked = await run(
      'keys',
      'revoke',
      timestamp.keyId.slice(0, 12),
      '--reason',
      'leaked in a log',
      ...both,
    );
    expect(revoked.stdout).toBe(`revoked ${timestamp.keyId} (timestamp): leaked in a log`);
    const root = JSON.parse(
      await readFile(join(stateDir, 'image-repo', 'metadata', 'root.json'), 'utf8'),
    ) as { signed: { roles: { timestamp: { keyids: string[] } } } };
    expect(root.signed.roles.timestamp.keyids).not.toContain(timestamp.keyId);
  });
});

describe('uproll devices provision', () => {
  it('publishes a state revision whose objects are stored once, by sha256', async () => {
    await init();
    const rootfs = join(stateDir, 'rootfs.img');
    const conf = join(stateDir, 'app.conf');
    await writeFile(rootfs, 'rootfs bytes');
    await writeFile(conf, 'name = app');
    const published = await run(
      'release',
      'revision',
      '2.0',
      rootfs,
      `etc/app.conf=${conf}`,
      '--hardware-id',
      'rpi4',
      '--release-counter',
      '2',
      '--health-cmd',
      'test -s rootfs.img',
      '--passphrase-env',
      'TEST_ONLINE_PASSPHRASE',
      '--json',
    );
    expect(published.status, published.stderr).toBe(0);
    const { revision, target } = JSON.parse(published.stdout) as { revision: StateRevision; target: string };
    expect(target).toBe('revisions/2.0.json');
    expect(revision.artifacts.map((a) => a.path)).toEqual(['rootfs.img', 'etc/app.conf']);
    expect(revision.health?.command).toEqual(['sh', '-c', 'test -s rootfs.img']);
    for (const artifact of revision.artifacts)
      expect((await stat(join(stateDir, 'image-repo', 'targets', 'objects', artifact.sha256))).isFile()).toBe(
        true,
      );

    const refused = await run(
      'release',
      'revision',
      '2.1',
      '../escape=' + conf,
      '--hardware-id',
      'rpi4',
      '--release-counter',
      '3',
      '--passphrase-env',
      'TEST_ONLINE_PASSPHRASE',
    );
    expect(refused).toMatchObject({ status: 1, stderr: expect.stringContaining('INVALID_INPUT') as string });
  });

  it('marks the artifact --rootfs-image names as the root filesystem image, and refuses a PATH it lacks', async () => {
    await init();
    const rootfs = join(stateDir, 'rootfs.ext4');
    await writeFile(rootfs, 'rootfs bytes');
    const release = (name: string, image: string) =>
      run(
        ...['release', 'revision', name, `rootfs.ext4=${rootfs}`, '--rootfs-image', image],
        ...['--hardware-id', 'rpi4', '--release-counter', '2', '--passphrase-env', 'TEST_ONLINE_PASSPHRASE'],
        '--json',
      );
    const published = await release('img-1', 'rootfs.ext4');
    expect(published.status, published.stderr).toBe(0);
    const { revision } = JSON.parse(published.stdout) as { revision: StateRevision };
    expect(revision.artifacts).toMatchObject([{ path: 'rootfs.ext4', image: 'rootfs' }]);
    expect(await release('img-2', 'nope.ext4')).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('--rootfs-image nope.ext4 names no PATH') as string,
    });
  });

  describe('when the revision name is published already', () => {
    const publish = (...files: string[]) =>
      run(
        ...['release', 'revision', '3.0', ...files, '--hardware-id', 'rpi4', '--release-counter', '3'],
        ...['--passphrase-env', 'TEST_ONLINE_PASSPHRASE'],
      );
    const timestampVersion = async () =>
      (
        JSON.parse(await readFile(join(stateDir, 'image-repo', 'metadata', 'timestamp.json'), 'utf8')) as {
          signed: { version: number };
        }
      ).signed.version;

    it('refuses other files under that name with REVISION_EXISTS, and the published revision stays', async () => {
      await init();
      const [first, second] = [join(stateDir, 'rootfs-a.img'), join(stateDir, 'rootfs-b.img')];
      await writeFile(first, 'rootfs a');
      await writeFile(second, 'rootfs b');
      expect((await publish(`rootfs.img=${first}`)).status).toBe(0);
      const timestamp = await timestampVersion();

      const again = await publish(`rootfs.img=${second}`);
      expect(again.status).toBe(1);
      expect(again.stderr).toMatch(
        /^uproll: REVISION_EXISTS: revision 3\.0 is already published .*new name$/,
      );
      expect(await timestampVersion()).toBe(timestamp);
    });

    it('takes the very same files again as already published, and exits 0', async () => {
      await init();
      const rootfs = join(stateDir, 'rootfs.img');
      await writeFile(rootfs, 'rootfs a');
      expect((await publish(rootfs)).status).toBe(0);
      const timestamp = await timestampVersion();

      const again = await publish(rootfs);
      expect(again).toMatchObject({
        status: 0,
        stdout: expect.stringContaining('already published') as string,
      });
      expect(await timestampVersion()).toBe(timestamp);
    });
  });

  it('writes everything a device needs to join, and registers it with the Director', async () => {
    await init();
    await writeSettings(stateDir, {
      host: '127.0.0.1',
      namespace: 'default',
      ports: { temporal: 17233, nats: 14222, natsMonitor: 18222 },
    });
    await applyNatsConfig(stateDir, () => new Date());
    const provisioned = await run(
      'devices',
      'provision',
      'dev-7',
      '--hardware-id',
      'rpi4',
      '--passphrase-env',
      'TEST_ONLINE_PASSPHRASE',
      '--json',
    );
    expect(provisioned.status, provisioned.stderr).toBe(0);
    const bundleDir = join(stateDir, 'devices', 'dev-7');
    const bundle = JSON.parse(await readFile(join(bundleDir, 'bundle.json'), 'utf8')) as {
      files: Record<string, string>;
      nats: { servers: string; tls?: boolean };
    };
    expect(Object.keys(bundle.files).sort()).toEqual([
      'caCertificate',
      'deviceKey',
      'directorRoot',
      'imageRoot',
      'natsSeed',
      'serverCa',
      'tlsCertificate',
      'tlsKey',
    ]);
    for (const secret of ['device.key', 'tls.key', 'nats.creds'])
      expect((await stat(join(bundleDir, secret))).mode & 0o777).toBe(0o600);
    expect(
      isIssuedBy(
        await readFile(join(bundleDir, 'tls.crt'), 'utf8'),
        await readFile(join(bundleDir, 'ca.crt'), 'utf8'),
      ),
    ).toBe(true);
    expect(bundle.nats).toEqual({ servers: '127.0.0.1:14222', tls: true });
    // The CA of the stack's server certificate, which the device verifies NATS with.
    expect(await readFile(join(bundleDir, 'server-ca.crt'), 'utf8')).toBe(
      await readFile(join(stateDir, 'tls', 'ca.crt'), 'utf8'),
    );

    const inventory = await new DirectorRepository(join(stateDir, 'director')).inventory('dev-7');
    const deviceKey = createPrivateKey(await readFile(join(bundleDir, 'device.key')));
    expect(inventory.publicKey).toEqual(tufPublicKey(deviceKey));
    // A user of the deployment's account, confined to the device's subjects.
    const creds = await readFile(join(bundleDir, 'nats.creds'), 'utf8');
    const jwt = /-----BEGIN NATS USER JWT-----\n(.+)\n/.exec(creds)![1]!;
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as {
      nats: { pub: { allow: string[] } };
    };
    expect(claims.nats.pub.allow).toEqual(['uproll.dev.dev-7.>']);
  });

  it('writes a bundle the agent loads, with where the repositories are', async () => {
    await init();
    const provisioned = await run(
      'devices',
      'provision',
      'dev-8',
      '--hardware-id',
      'rpi4',
      '--image-url',
      'http://10.0.0.1:18080',
      '--director-url',
      'http://10.0.0.1:18081/',
      '--no-nats',
      '--passphrase-env',
      'TEST_ONLINE_PASSPHRASE',
    );
    expect(provisioned.status, provisioned.stderr).toBe(0);
    const identity = await loadDeviceBundle(join(stateDir, 'devices', 'dev-8'));
    expect(identity.device).toEqual({
      deviceId: 'dev-8',
      ecus: [{ serial: 'dev-8-primary', hardwareId: 'rpi4' }],
    });
    expect(identity.repositories).toEqual({
      imageMetadataUrl: 'http://10.0.0.1:18080/metadata/',
      imageTargetsUrl: 'http://10.0.0.1:18080/targets/',
      directorMetadataUrl: 'http://10.0.0.1:18081/devices/dev-8/metadata/',
    });
    expect(identity.deviceKey.publicKey).toEqual(
      (await new DirectorRepository(join(stateDir, 'director')).inventory('dev-8')).publicKey,
    );
  });

  it('never overwrites an existing bundle', async () => {
    await init();
    const provision = (deviceId: string) =>
      run(
        ...['devices', 'provision', deviceId, '--hardware-id', 'rpi4', '--no-nats'],
        ...['--out', join(stateDir, 'bundle'), '--passphrase-env', 'TEST_ONLINE_PASSPHRASE'],
      );
    expect((await provision('dev-8')).stdout).toContain('no NATS credentials, as asked');
    const another = await provision('dev-9');
    expect(another.status).toBe(1);
    expect(another.stderr).toMatch(/INVALID_INPUT: .* is not empty/);
  });
});
