import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient, type AppStatus } from '../../agent/index.ts';
import type { HeartbeatApp, RolloutPolicyInput } from '../../core/index.ts';
import type { AppRelease, OciImage } from '../../services/image-repo/index.ts';
import { readPresence } from '../../services/nats/index.ts';
import { rolloutProgressQuery } from '../../workflows/contracts.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';
import { runCliInProcess } from '../helpers/cli-in-process.ts';
import { eventually } from '../helpers/eventually.ts';
import { busyboxImage } from '../helpers/oci-image.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

// Apps as containers through the whole stack: revisions with two busybox apps published to the
// Image repository, rolled out by the real rollout workflow over Temporal and NATS to a real agent
// that runs them with runc; what the fleet sees comes from its heartbeats and its reports.

let h: Harness;
let layouts: string;
let images: Record<'web1' | 'web2' | 'web3crash' | 'db1', OciImage>;
beforeAll(async () => {
  h = await startHarness();
  await h.startWorker();
  layouts = await mkdtemp(join(tmpdir(), 'uproll-apps-rollout-'));
  const service = (name: string, version: string, end: string) => ({
    files: { 'app/run': `#!/bin/sh\necho "${name} ${version} starting"\n${end}\n` },
    cmd: ['/app/run'],
  });
  const layout = join(layouts, 'layout');
  images = {
    web1: await busyboxImage(layout, 'web1', service('web', '1.0', 'exec sleep 3600')),
    web2: await busyboxImage(layout, 'web2', service('web', '2.0', 'exec sleep 3600')),
    web3crash: await busyboxImage(
      layout,
      'web3crash',
      service('web', '3.0', 'echo "web 3.0: cannot open /etc/web.conf" >&2\nexit 3'),
    ),
    db1: await busyboxImage(layout, 'db1', service('db', '1.0', 'exec sleep 3600')),
  };
}, 180_000);

let agent: Awaited<ReturnType<Harness['startAgent']>> | undefined;
afterAll(async () => {
  // The apps run on without the agent: every container this file started goes.
  const runc = agent?.updates.apps.runc;
  for (const id of (await runc?.list().catch(() => [])) ?? []) await runc?.delete(id);
  await h?.close();
  await rm(layouts, { recursive: true, force: true });
});

const onePolicy: RolloutPolicyInput = {
  canary: 1,
  waves: { percentages: [100] },
  gate: { minSample: 1, maxFailureRate: 0 },
  onBreach: 'abort',
};
const app = (name: string, image: OciImage): AppRelease => ({
  name,
  image,
  restart: 'no',
  health: { runningForMs: 1000 },
});
const uproll = (...argv: string[]) => runCliInProcess([...argv, '--state-dir', h.stateDir]);

describe('a rollout of apps to a real agent', () => {
  it('runs both apps, restarts only the app that changed, and rolls back a crashing one with its output in the fleet view', async () => {
    const deviceId = uniqueId('apps-device');
    agent = await h.startAgent(deviceId, { heartbeatMs: 300 });
    const control = new ControlClient(agent.controlSocket);
    const appsOnDevice = async () =>
      Object.fromEntries((await control.status()).apps.map((a) => [a.name, a])) as Record<string, AppStatus>;
    const outputOf = (container: string) => readFile(agent!.updates.apps.logOf(container), 'utf8');
    /** What `uproll devices show --json` says of the device's apps (from its heartbeats). */
    const appsInFleetView = async () => {
      const shown = await uproll('devices', 'show', deviceId, '--json');
      expect(shown.status, shown.stderr).toBe(0);
      const { apps } = JSON.parse(shown.stdout) as { apps: HeartbeatApp[] };
      return Object.fromEntries(apps.map((a) => [a.name, a]));
    };
    const os = randomArtifacts(1); // the same OS part in every revision: app-only updates
    const rollOut = async (apps: AppRelease[]) => {
      const revision = uniqueId('apps');
      await h.repos.publish(revision, os, { apps });
      const rolloutId = uniqueId('ro-apps');
      const handle = await h.startRollout({
        rolloutId,
        revision,
        target: { devices: [deviceId] },
        policy: onePolicy,
      });
      return { revision, rolloutId, handle, result: await handle.result() };
    };

    // Revision 1: both apps run, and each one's output shows its version.
    const first = await rollOut([app('db', images.db1), app('web', images.web1)]);
    expect(first.result).toMatchObject({ status: 'completed', counts: { committed: 1 } });
    const v1 = await appsOnDevice();
    expect(v1).toMatchObject({ db: { state: 'running' }, web: { state: 'running' } });
    expect(await outputOf(v1['web']!.container)).toContain('web 1.0 starting');
    expect(await outputOf(v1['db']!.container)).toContain('db 1.0 starting');
    const deployment = (await control.status()).bootControl.active?.deployment;
    // The fleet sees the apps the device's heartbeats show.
    const seen1 = await eventually('both apps running in the fleet view', async () => {
      const seen = await appsInFleetView();
      return seen['db']?.state === 'running' && seen['web']?.state === 'running' && seen;
    });
    expect(seen1['db']).toMatchObject({
      container: v1['db']!.container,
      startedAt: v1['db']!.startedAt,
      restarts: 0,
      exitCode: null,
    });
    // Rollouts read presence into their workflow history: without the apps.
    expect((await readPresence(h.nc, [deviceId]))[deviceId]).not.toHaveProperty('apps');
    expect((await uproll('events', 'rebuild')).status).toBe(0); // the device projection, for the list
    const listed = await uproll('devices', 'list');
    expect(listed.stdout).toMatch(new RegExp(`${deviceId} .*db running, web running`));

    // Revision 2 changes only web: db's container keeps running as it was, the OS is not restaged.
    const second = await rollOut([app('db', images.db1), app('web', images.web2)]);
    expect(second.result).toMatchObject({ status: 'completed', counts: { committed: 1 } });
    const v2 = await appsOnDevice();
    expect(v2['db']).toMatchObject({
      container: v1['db']!.container,
      startedAt: v1['db']!.startedAt,
      state: 'running',
    });
    expect(v2['web']!.container).not.toBe(v1['web']!.container);
    expect(v2['web']!.state).toBe('running');
    expect(await outputOf(v2['web']!.container)).toContain('web 2.0 starting');
    expect((await control.status()).bootControl.active).toMatchObject({
      revision: second.revision,
      deployment, // the same OS deployment: nothing restaged
    });
    await eventually('the new web in the fleet view', async () => {
      const seen = await appsInFleetView();
      return seen['web']?.container === v2['web']!.container && seen['db']?.startedAt === v1['db']!.startedAt;
    });

    // Revision 3's web crashes: the device rolls back and runs revision 2's web again.
    const third = await rollOut([app('db', images.db1), app('web', images.web3crash)]);
    expect(third.result).toMatchObject({ status: 'aborted', counts: { committed: 0, rolledBack: 1 } });
    const progress = await third.handle.query(rolloutProgressQuery);
    expect(progress.failures).toMatchObject([
      { deviceId, outcome: 'rolled_back', reason: { code: 'APP_UNHEALTHY' } },
    ]);
    expect(progress.failures[0]!.reason.message).toContain('web 3.0: cannot open /etc/web.conf');
    const status = await uproll('rollout', 'status', third.rolloutId);
    expect(status.status, status.stderr).toBe(0);
    const lines = status.stdout.split('\n');
    // The code on the device's line, the app's last output on lines of their own below it.
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^  ${deviceId}  rolled_back  APP_UNHEALTHY: app web `)),
    );
    expect(lines).toContain('      web 3.0 starting');
    expect(lines).toContain('      web 3.0: cannot open /etc/web.conf');

    const back = await appsOnDevice();
    expect(back['web']).toMatchObject({ container: v2['web']!.container, state: 'running' });
    expect(back['db']).toMatchObject({ container: v1['db']!.container, startedAt: v1['db']!.startedAt });
    expect(await outputOf(back['web']!.container)).toContain('web 2.0 starting');
    expect((await control.status()).bootControl).toMatchObject({
      active: { revision: second.revision, deployment },
      trial: false,
    });
    expect((await uproll('events', 'rebuild')).status).toBe(0);
    const shown = await eventually('the old web running again in the device view', async () => {
      const text = (await uproll('devices', 'show', deviceId)).stdout;
      return text.includes(`web running, started`) && text.includes(v2['web']!.container) && text;
    });
    const shownLines = shown.split('\n');
    expect(shownLines).toContainEqual(expect.stringMatching(/^ {2}app {10}db running, started /));
    // The device view has the failed update's code and the crashed app's last output below it.
    expect(shownLines).toContainEqual(
      expect.stringMatching(/^ {2}last error {3}APP_UNHEALTHY: app web did not reach its health goal/),
    );
    expect(shownLines).toContain(`${' '.repeat(17)}web 3.0: cannot open /etc/web.conf`);
  }, 300_000);
});
