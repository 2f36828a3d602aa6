import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DeviceView } from '../../services/projections/index.ts';
import { findFreePort, requireSettings, stackAddresses, stackPaths } from '../../services/dev-stack/index.ts';
import { spawnUproll, type CliProcess, runUproll } from '../helpers/cli-process.ts';
import { eventually } from '../helpers/eventually.ts';
import { ownNatsServer } from '../helpers/own-nats-server.ts';
import { uniqueId } from './harness.ts';

// An operator's CLI on a deployment of their own, with no local stack in the state directory: a
// nats-server of this file's own (from `uproll nats config`), the suite's Temporal, `uproll serve`
// with its worker on a task queue of this file's own, a real agent, and the commands of release
// managers given the deployment's addresses, as options or in the environment.

const taskQueue = uniqueId('own-deployment');
const deviceId = uniqueId('own-dev');
const rolloutId = uniqueId('own-r');
let stateDir: string;
let work: string;
let natsServer: Awaited<ReturnType<typeof ownNatsServer>>;
/** The options that name the deployment. */
let deployment: string[];
/** The same, as the environment names it. */
let deploymentEnv: NodeJS.ProcessEnv;
const running: CliProcess[] = [];
const agents: ChildProcess[] = [];

const baseEnv = (): NodeJS.ProcessEnv => ({
  UPROLL_STATE_DIR: stateDir,
  UPROLL_BY: 'alice@example.com',
  UPROLL_TEMPORAL: '',
  UPROLL_NATS: '',
  UPROLL_NATS_CREDS: '',
  OFFLINE_PASS: 'offline passphrase of the test',
  ONLINE_PASS: 'online passphrase of the test',
});

/** Runs `uproll ARGS` to its end. */
const uproll = (args: string[], env: NodeJS.ProcessEnv = {}) => runUproll(args, { ...baseEnv(), ...env });

/** Starts a long-running process and resolves with its first line (its ready line). */
async function start(args: string[]): Promise<{ cli: CliProcess; first: string }> {
  const cli = spawnUproll(args, baseEnv());
  running.push(cli);
  const first = await eventually(`${args.slice(0, 2).join(' ')} to be ready`, () => {
    if (cli.child.exitCode !== null)
      throw new Error(`exited ${cli.child.exitCode}: ${cli.stderr.join('\n')}`);
    return cli.stdout[0];
  });
  return { cli, first };
}

async function devices(): Promise<DeviceView[]> {
  const listed = await uproll(['devices', 'list', '--json', ...deployment]);
  expect(listed.status, listed.stderr).toBe(0);
  return JSON.parse(listed.stdout) as DeviceView[];
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'uproll-own-deployment-'));
  work = await mkdtemp(join(tmpdir(), 'uproll-own-deployment-work-'));
  natsServer = await ownNatsServer(work);
  const temporal = stackAddresses(await requireSettings(inject('integration').stateDir)).temporal;
  const creds = join(stateDir, 'nats', 'services.creds');
  deployment = ['--temporal', temporal, '--nats', natsServer.url, '--nats-seed-file', creds];
  deploymentEnv = { UPROLL_TEMPORAL: temporal, UPROLL_NATS: natsServer.url, UPROLL_NATS_CREDS: creds };
}, 60_000);
afterAll(async () => {
  for (const agent of agents) {
    if (agent.exitCode !== null) continue;
    agent.kill('SIGTERM');
    await once(agent, 'exit');
  }
  for (const cli of running.reverse()) {
    if (cli.child.exitCode !== null) continue;
    cli.child.kill('SIGTERM');
    await cli.exited;
  }
  await natsServer.stop();
  await rm(stateDir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
}, 60_000);

describe("the CLI on an operator's own deployment, with no local stack", () => {
  it('serve, a provisioned agent, rollout start --wait, status, devices list and the audit trail', async () => {
    const keys = await uproll([
      ...['keys', 'init', '--offline-passphrase-env', 'OFFLINE_PASS'],
      ...['--online-passphrase-env', 'ONLINE_PASS'],
    ]);
    expect(keys.status, keys.stderr).toBe(0);
    expect((await uproll(['nats', 'init', '--url', natsServer.url])).status).toBe(0);
    expect((await uproll(['nats', 'config', ...natsServer.configArgs])).status).toBe(0);
    await natsServer.start();

    const [imagePort, directorPort, apiPort] = [
      await findFreePort(),
      await findFreePort(),
      await findFreePort(),
    ];
    const serve = await start([
      ...['serve', '--json', '--passphrase-env', 'ONLINE_PASS', '--task-queue', taskQueue, ...deployment],
      ...['--image-port', String(imagePort), '--director-port', String(directorPort)],
      ...['--api-port', String(apiPort)],
    ]);
    expect(JSON.parse(serve.first)).toMatchObject({ ready: true, nats: natsServer.url, taskQueue });

    // Named by the environment, provisioning sends its audit event to the deployment's event log.
    const provisioned = await uproll(
      [
        ...['devices', 'provision', deviceId, '--hardware-id', 'rpi4', '--passphrase-env', 'ONLINE_PASS'],
        ...[
          '--image-url',
          `https://127.0.0.1:${imagePort}`,
          '--director-url',
          `https://127.0.0.1:${directorPort}`,
        ],
      ],
      deploymentEnv,
    );
    expect(provisioned.status, provisioned.stderr).toBe(0);
    expect(provisioned.stderr).not.toContain('kept in');
    const dataDir = join(work, deviceId);
    await mkdir(dataDir);
    agents.push(
      spawn(
        process.execPath,
        ['bin/uproll-agent.js', '--bundle', join(stateDir, 'devices', deviceId), '--data-dir', dataDir],
        { stdio: 'ignore' },
      ),
    );

    const app = join(work, 'run.sh');
    await writeFile(app, '#!/bin/sh\necho app-1.0\n');
    await chmod(app, 0o755);
    const released = await uproll(
      [
        ...['release', 'revision', 'app-1.0', `app/run.sh=${app}`, '--hardware-id', 'rpi4'],
        ...[
          '--release-counter',
          '1',
          '--health-cmd',
          'test -x app/run.sh',
          '--passphrase-env',
          'ONLINE_PASS',
        ],
      ],
      deploymentEnv,
    );
    expect(released.status, released.stderr).toBe(0);

    const rollout = await uproll([
      ...['rollout', 'start', rolloutId, '--revision', 'app-1.0', '--device', deviceId],
      ...['--canary', '1', '--waves', '100', '--task-queue', taskQueue, '--wait', ...deployment],
    ]);
    expect(rollout.status, rollout.stdout + rollout.stderr).toBe(0);
    expect(rollout.stdout).toContain('rollout.completed        1 committed, 0 rolled back, 0 failed');

    const status = await uproll(['rollout', 'status', rolloutId, ...deployment]);
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toContain(`rollout ${rolloutId} of app-1.0: completed`);

    const fleet = await eventually('the fleet view to show the device on app-1.0', async () => {
      const view = await devices();
      return view.some((d) => d.committedRevision === 'app-1.0') && view;
    });
    expect(fleet.map((d) => [d.deviceId, d.phase])).toEqual([[deviceId, 'committed']]);

    // An audit event a command records reaches the deployment's event log.
    const tagged = await uproll(['devices', 'tag', deviceId, 'lab', ...deployment]);
    expect(tagged.status, tagged.stderr).toBe(0);
    expect(tagged.stderr).not.toContain('kept in');
    const trail = await uproll([
      'events',
      'tail',
      '--aggregate',
      'device',
      '--id',
      deviceId,
      '--json',
      ...deployment,
    ]);
    expect(trail.status, trail.stderr).toBe(0);
    const events = trail.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; data: { by?: string } });
    expect(events.filter((e) => e.data.by).map((e) => [e.type, e.data.by])).toEqual([
      ['device.provisioned', 'alice@example.com'],
      ['device.tagged', 'alice@example.com'],
    ]);
    expect(events.map((e) => e.type)).toContain('device.update.committed');

    // The environment names it as well as the options do.
    const list = await uproll(['rollout', 'list', '--json'], deploymentEnv);
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toContain(`"rolloutId":"${rolloutId}"`);

    // Everything above went to the deployment: the state directory never had a local stack.
    await expect(stat(stackPaths(stateDir).settings)).rejects.toThrow(/ENOENT/);
  }, 240_000);
});
