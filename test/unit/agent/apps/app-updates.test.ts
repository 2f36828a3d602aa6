import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AppSupervisor, ControlClient, ObjectStore, startControlSocket } from '../../../../agent/index.ts';
import type { AppRelease, OciImage } from '../../../../services/image-repo/index.ts';
import { closeAppRig, randomArtifacts, startAgentRig, type AgentRig } from '../../../helpers/agent-rig.ts';
import { eventually } from '../../../helpers/eventually.ts';
import { OCI_RUNTIMES } from '../../../helpers/device-tools.ts';
import { busyboxImage, imageOfLayers } from '../../../helpers/oci-image.ts';
import { tarOf } from '../../../helpers/tar-builder.ts';

/** Apps of these tests: busybox images that say their version, keep a run log in their volume, then run on (or crash). */
let images: Record<'web1' | 'web2' | 'web2crash' | 'db1', OciImage>;
let layouts: string;
beforeAll(async () => {
  layouts = await mkdtemp(join(tmpdir(), 'uproll-app-images-'));
  const service = (name: string, version: string, end: string) => ({
    files: {
      'app/run': `#!/bin/sh\necho "${name} ${version} starting"\necho "${name} ${version} ran" >> /data/runs\n${end}\n`,
    },
    cmd: ['/app/run'],
  });
  const layout = join(layouts, 'layout');
  images = {
    web1: await busyboxImage(layout, 'web1', service('web', '1.0', 'exec sleep 3600')),
    web2: await busyboxImage(layout, 'web2', service('web', '2.0', 'exec sleep 3600')),
    web2crash: await busyboxImage(
      layout,
      'web2crash',
      service('web', '2.0', 'echo "web 2.0: /etc/web.conf is missing" >&2\nexit 3'),
    ),
    db1: await busyboxImage(layout, 'db1', service('db', '1.0', 'exec sleep 3600')),
  };
}, 60_000);
afterAll(() => rm(layouts, { recursive: true, force: true }));

let rig: AgentRig | undefined;
afterEach(async () => {
  if (rig) await closeAppRig(rig);
  rig = undefined;
});

const app = (name: string, image: OciImage, extra: Partial<AppRelease> = {}): AppRelease => ({
  name,
  image,
  volumes: [{ name: 'data', path: '/data' }],
  health: { runningForMs: 500 },
  ...extra,
});
const os = randomArtifacts(1);
const statusOf = async (r: AgentRig, name: string) =>
  (await r.manager.apps.status()).find((a) => a.name === name);
const logOf = (r: AgentRig, id: string) => readFile(r.manager.apps.logOf(id), 'utf8');
const runsOf = (r: AgentRig, name: string) =>
  readFile(join(r.dataDir, 'apps', 'volumes', name, 'data', 'runs'), 'utf8');

// Real containers: each test starts several, and the machine is shared.
describe.each(OCI_RUNTIMES)('apps in a revision, run by %s', { timeout: 60_000 }, (_, ociRuntime) => {
  it('run in a container once the revision is installed, and their output shows their version', async () => {
    rig = await startAgentRig({ ociRuntime });
    const web = app('web', images.web1);
    await rig.release('1.0', os, { apps: [web] });
    const { telemetry } = await rig.update('1.0');
    expect(telemetry.at(-1)).toMatchObject({ phase: 'committed' });
    const socket = await startControlSocket(join(rig.dataDir, 'control.sock'), rig.manager);
    try {
      const { apps } = await new ControlClient(socket.path).status();
      expect(apps).toMatchObject([{ name: 'web', state: 'running', exitCode: null, restarts: 0 }]);
      expect(await logOf(rig, apps[0]!.container)).toContain('web 1.0 starting');
    } finally {
      await socket.close();
    }
  });

  it('run from a data directory given relative to the working directory (`--data-dir data`)', async () => {
    // The runtime resolves a relative rootfs against the bundle: seen as `invalid rootfs` in the demo.
    rig = await startAgentRig({ ociRuntime, relativeDataDir: true });
    await rig.release('1.0', os, { apps: [app('web', images.web1)] });
    const { telemetry } = await rig.update('1.0');
    expect(telemetry.at(-1)).toMatchObject({ phase: 'committed' });
    expect(await statusOf(rig, 'web')).toMatchObject({ state: 'running' });
  });

  it('an update that changes one app restarts only that one, without restaging the OS', async () => {
    rig = await startAgentRig({ ociRuntime });
    await rig.release('1.0', os, {
      apps: [app('db', images.db1), app('web', images.web1, { after: ['db'] })],
    });
    expect((await rig.update('1.0')).telemetry.at(-1)).toMatchObject({ phase: 'committed' });
    const before = { db: await statusOf(rig, 'db'), control: await rig.manager.boot.read() };
    const dbState = await rig.manager.apps.runc.state(before.db!.container);

    await rig.release('1.1', os, {
      apps: [app('db', images.db1), app('web', images.web2, { after: ['db'] })],
    });
    const { telemetry } = await rig.update('1.1');
    expect(telemetry.at(-1)).toMatchObject({ phase: 'committed' });
    expect((await rig.manager.boot.read()).active).toMatchObject({
      revision: '1.1',
      deployment: before.control.active!.deployment, // the same OS slot: nothing restaged
    });
    const db = await statusOf(rig, 'db');
    expect(db).toMatchObject({ container: before.db!.container, state: 'running' });
    expect(await rig.manager.apps.runc.state(db!.container)).toMatchObject({
      pid: dbState!.pid,
      created: dbState!.created,
    });
    const web = await statusOf(rig, 'web');
    expect(web).toMatchObject({ state: 'running' });
    expect(await logOf(rig, web!.container)).toContain('web 2.0 starting');
    expect(await runsOf(rig, 'db')).toBe('db 1.0 ran\n'); // db started once in all
    // What the replaced container left (its config, its output) is freed; the images stay for a rollback.
    expect((await readdir(join(rig.dataDir, 'apps', 'containers'))).sort()).toEqual(
      (await rig.manager.apps.runc.list()).sort(),
    );
    expect((await readdir(join(rig.dataDir, 'apps', 'bundles'))).sort()).toEqual(
      [images.db1.manifest, images.web1.manifest, images.web2.manifest].sort(),
    );
  });

  it('a new version that crashes is rolled back: the old one runs again, its volume data kept', async () => {
    rig = await startAgentRig({ ociRuntime });
    const v1 = app('web', images.web1);
    await rig.release('1.0', os, { apps: [v1] });
    await rig.update('1.0');
    const committed = await statusOf(rig, 'web');
    await rig.release('2.0', os, { apps: [app('web', images.web2crash)] });
    const { telemetry } = await rig.update('2.0');
    expect(telemetry.map((t) => t.phase)).toEqual(['downloaded', 'verified', 'installed', 'rolled_back']);
    const rolledBack = telemetry.at(-1)!;
    expect(rolledBack.error?.code).toBe('APP_UNHEALTHY');
    expect(rolledBack.error?.message).toContain('/etc/web.conf is missing'); // the app's own last words
    expect(await rig.manager.boot.read()).toMatchObject({ active: { revision: '1.0' }, trial: false });
    expect(await statusOf(rig, 'web')).toMatchObject({ state: 'running', container: committed!.container });
    expect(await runsOf(rig, 'web')).toBe('web 1.0 ran\nweb 2.0 ran\nweb 1.0 ran\n');
  });

  it('an app that dies is started again by its restart policy, and the status says so', async () => {
    rig = await startAgentRig({ ociRuntime });
    await rig.release('1.0', os, {
      apps: [app('web', images.web1, { restart: 'always' }), app('db', images.db1, { restart: 'no' })],
    });
    expect((await rig.update('1.0')).telemetry.at(-1)).toMatchObject({ phase: 'committed' });
    for (const name of ['web', 'db'])
      await rig.manager.apps.runc.kill((await statusOf(rig, name))!.container, 'KILL');
    await eventually('both apps to have exited', async () =>
      (await rig!.manager.apps.status()).every((a) => a.state === 'exited' && a.exitCode !== null),
    );
    expect(await statusOf(rig, 'web')).toMatchObject({ state: 'exited', exitCode: 137, restarts: 0 });
    expect(await rig.manager.apps.superviseOnce()).toEqual(['web']);
    expect(await statusOf(rig, 'web')).toMatchObject({ state: 'running', restarts: 1 });
    expect(await statusOf(rig, 'db')).toMatchObject({ state: 'exited', exitCode: 137, restarts: 0 });
    expect(await runsOf(rig, 'web')).toBe('web 1.0 ran\nweb 1.0 ran\n');
  });

  it('an app\u2019s exit code outlives the agent: a new agent process reads it from the exit record', async () => {
    rig = await startAgentRig({ ociRuntime });
    // Each ends once the test says so, through a file in its volume: no timing involved.
    const endsWith = (code: number) => [
      '/bin/sh',
      '-c',
      `until [ -f /data/end ]; do sleep 0.1; done; exit ${code}`,
    ];
    await rig.release('1.0', os, {
      apps: [
        app('web', images.web1, { command: endsWith(7) }),
        app('db', images.db1, { command: endsWith(0) }),
      ],
    });
    expect((await rig.update('1.0')).telemetry.at(-1)).toMatchObject({ phase: 'committed' });
    const restarted = rig.restart(); // the agent process that started them is gone
    for (const name of ['web', 'db'])
      await writeFile(join(rig.dataDir, 'apps', 'volumes', name, 'data', 'end'), '');
    await eventually('both apps to have ended', async () =>
      (await restarted.apps.status()).every((a) => a.state === 'exited'),
    );
    expect((await restarted.apps.status()).map((a) => [a.name, a.exitCode])).toEqual([
      ['web', 7],
      ['db', 0],
    ]);
  });

  it('an agent killed mid-switch comes back with one consistent set of apps', async () => {
    rig = await startAgentRig({ ociRuntime });
    await rig.release('1.0', os, {
      apps: [app('db', images.db1), app('web', images.web1, { after: ['db'] })],
    });
    expect((await rig.update('1.0')).telemetry.at(-1)).toMatchObject({ phase: 'committed' });
    const v2 = [app('db', images.db1, { env: { SCHEMA: '2' } }), app('web', images.web2, { after: ['db'] })];
    await rig.release('2.0', os, { apps: v2 });
    // The agent "dies" once the first container of 2.0 runs: the old ones are gone, web 2.0 is not started.
    let firstStarted!: () => void;
    const started = new Promise<void>((resolve) => (firstStarted = resolve));
    const dying = rig.restart({
      apps: new AppSupervisor({
        ociRuntime,
        dataDir: rig.dataDir,
        objects: new ObjectStore(rig.dataDir),
        onStarted: () => {
          firstStarted();
          return new Promise<void>(() => {});
        },
      }),
    });
    await dying.accept({ rolloutId: 'r2', revision: '2.0' });
    await started;
    expect(await dying.apps.runc.list()).toHaveLength(1);

    const manager = rig.restart();
    expect(await manager.recover()).toBe('committed');
    const apps = await manager.apps.status();
    expect(apps.map((a) => [a.name, a.state])).toEqual([
      ['db', 'running'],
      ['web', 'running'],
    ]);
    expect((await manager.apps.runc.list()).sort()).toEqual(apps.map((a) => a.container).sort()); // nothing else
    expect(await logOf(rig, apps[1]!.container)).toContain('web 2.0 starting');
  });

  it('an exec health goal is run inside the container: it commits once the probe passes, rolls back if it never does', async () => {
    rig = await startAgentRig({ ociRuntime });
    const ready = app('web', images.web1, {
      command: ['/bin/sh', '-c', 'sleep 0.3; touch /tmp/ready; exec sleep 3600'],
      health: { exec: ['/bin/test', '-f', '/tmp/ready'], attempts: 50, intervalMs: 100 },
    });
    await rig.release('1.0', os, { apps: [ready] });
    expect((await rig.update('1.0')).telemetry.at(-1)).toMatchObject({ phase: 'committed' });

    const never = app('web', images.web2, {
      health: { exec: ['/bin/test', '-f', '/tmp/ready'], attempts: 3, intervalMs: 100 },
    });
    await rig.release('2.0', os, { apps: [never] });
    const { telemetry } = await rig.update('2.0');
    expect(telemetry.at(-1)).toMatchObject({ phase: 'rolled_back', error: { code: 'APP_UNHEALTHY' } });
    expect(telemetry.at(-1)?.error?.message).toContain('web 2.0 starting');
    expect(await statusOf(rig, 'web')).toMatchObject({ state: 'running' });
  });

  it('a new image whose layer escapes its rootfs fails the update with LAYER_UNSAFE; the running apps are untouched', async () => {
    rig = await startAgentRig({ ociRuntime });
    await rig.release('1.0', os, { apps: [app('web', images.web1)] });
    await rig.update('1.0');
    const before = await rig.manager.apps.runc.state((await statusOf(rig, 'web'))!.container);
    const hostile = imageOfLayers([tarOf([{ name: '../../../evil', body: 'x' }])]);
    await rig.release('2.0', os, { apps: [app('web', hostile)] });
    const { telemetry } = await rig.update('2.0');
    expect(telemetry.map((t) => t.phase)).toEqual(['downloaded', 'verified', 'failed']);
    expect(telemetry.at(-1)?.error?.code).toBe('LAYER_UNSAFE');
    expect(await rig.manager.boot.read()).toMatchObject({ active: { revision: '1.0' }, trial: false });
    expect(await rig.manager.apps.runc.state(before!.id)).toMatchObject({
      status: 'running',
      pid: before!.pid,
    });
    expect(await readdir(join(rig.dataDir, 'apps', 'bundles'))).toEqual([images.web1.manifest]);
  });
});
