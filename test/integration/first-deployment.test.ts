import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runUproll } from '../helpers/cli-process.ts';
import type { DeviceView } from '../../services/projections/index.ts';
import { findFreePort } from '../../services/dev-stack/index.ts';
import { eventually } from '../helpers/eventually.ts';

// The README's "A first real deployment", as a user runs it: every step a process of its own
// (`uproll` commands, `uproll serve`, three `uproll-agent`s, two on A/B slots, one on OSTree), on a
// state directory and a local stack of this file's own.

let stateDir: string;
let work: string;
const env = (): NodeJS.ProcessEnv => ({
  ...process.env,
  UPROLL_STATE_DIR: stateDir,
  UPROLL_BY: 'alice@example.com',
  OFFLINE_PASS: 'offline passphrase of the test',
  ONLINE_PASS: 'online passphrase of the test',
});
const running: ChildProcess[] = [];

/** Runs `uproll ARGS` to its end. */
const uproll = (...args: string[]) => runUproll(args, env());

/** Starts a long-running process and resolves once it printed its first line. */
async function start(bin: string, args: string[]): Promise<{ child: ChildProcess; first: string }> {
  const child = spawn(process.execPath, [bin, ...args], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const first = once(createInterface({ input: child.stdout }), 'line').then(([line]) => line as string);
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`${bin} ${args.join(' ')} exited ${String(code)}: ${stderr}`);
  });
  return { child, first: await Promise.race([first, exited]) };
}

async function devices(): Promise<Record<string, DeviceView>> {
  const listed = await uproll('devices', 'list', '--json');
  expect(listed.status, listed.stderr).toBe(0);
  return Object.fromEntries((JSON.parse(listed.stdout) as DeviceView[]).map((d) => [d.deviceId, d]));
}

async function release(name: string, counter: number) {
  const app = join(work, `${name}.sh`);
  await writeFile(app, `#!/bin/sh\necho ${name}\n`);
  await chmod(app, 0o755);
  const published = await uproll(
    ...['release', 'revision', name, `app/run.sh=${app}`, '--hardware-id', 'rpi4'],
    ...['--release-counter', String(counter), '--health-cmd', 'test -x app/run.sh'],
    ...['--passphrase-env', 'ONLINE_PASS'],
  );
  expect(published.status, published.stderr).toBe(0);
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'uproll-first-deployment-'));
  work = await mkdtemp(join(tmpdir(), 'uproll-first-deployment-work-'));
}, 60_000);
afterAll(async () => {
  for (const child of running.reverse()) {
    if (child.exitCode !== null) continue;
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
  await uproll('dev', 'down');
  await rm(stateDir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
}, 60_000);

describe('a first real deployment, step by step as the README says', () => {
  it('keys, serve, provisioned agents, a staged rollout, a rollback after the end, the audit trail', async () => {
    const keys = await uproll(
      ...[
        'keys',
        'init',
        '--offline-passphrase-env',
        'OFFLINE_PASS',
        '--online-passphrase-env',
        'ONLINE_PASS',
      ],
    );
    expect(keys.status, keys.stderr).toBe(0);
    const stack = await uproll(
      ...['dev', 'up', '--temporal-port', String(await findFreePort())],
      ...['--nats-port', String(await findFreePort()), '--nats-monitor-port', String(await findFreePort())],
    );
    expect(stack.status, stack.stderr).toBe(0);

    const [imagePort, directorPort, apiPort] = [
      await findFreePort(),
      await findFreePort(),
      await findFreePort(),
    ];
    const serve = await start('bin/uproll.js', [
      ...['serve', '--json', '--passphrase-env', 'ONLINE_PASS'],
      ...[
        '--image-port',
        String(imagePort),
        '--director-port',
        String(directorPort),
        '--api-port',
        String(apiPort),
      ],
    ]);
    // TLS everywhere by default: the repositories over HTTPS, NATS over TLS, one CA the bundles carry.
    expect(JSON.parse(serve.first)).toMatchObject({
      ready: true,
      urls: { image: `https://127.0.0.1:${imagePort}`, director: `https://127.0.0.1:${directorPort}` },
    });

    for (const [deviceId, installer] of [
      ['dev-a', 'ab'],
      ['dev-b', 'ostree'],
      ['dev-c', 'ab'],
    ] as const) {
      const provisioned = await uproll(
        ...['devices', 'provision', deviceId, '--hardware-id', 'rpi4', '--passphrase-env', 'ONLINE_PASS'],
        ...[
          '--image-url',
          `https://127.0.0.1:${imagePort}`,
          '--director-url',
          `https://127.0.0.1:${directorPort}`,
        ],
      );
      expect(provisioned.status, provisioned.stderr).toBe(0);
      const dataDir = join(work, deviceId);
      await mkdir(dataDir);
      const bundle = join(stateDir, 'devices', deviceId);
      expect(JSON.parse(await readFile(join(bundle, 'bundle.json'), 'utf8'))).toMatchObject({
        files: { serverCa: 'server-ca.crt' },
        nats: { tls: true },
      });
      running.push(
        spawn(process.execPath, [
          ...['bin/uproll-agent.js', '--bundle', bundle, '--data-dir', dataDir, '--installer', installer],
        ]),
      );
    }
    // Provisioned devices are in the fleet view before their first update.
    expect(
      await eventually(
        'the three devices in the fleet view',
        async () => Object.keys(await devices()).length === 3,
      ),
    );

    await release('app-1.0', 1);
    const plan = await uproll('rollout', 'plan', '--hardware-id', 'rpi4', '--canary', '1', '--waves', '100');
    expect(plan.stdout).toMatch(
      /wave 0 \(canary\): 1 devices +dev-a\nwave 1: 2 devices +(dev-b dev-c|dev-c dev-b)/,
    );
    const rollout = await uproll(
      ...['rollout', 'start', 'r-1', '--revision', 'app-1.0', '--hardware-id', 'rpi4'],
      ...['--canary', '1', '--waves', '100', '--wait'],
    );
    expect(rollout.status, rollout.stdout + rollout.stderr).toBe(0);
    expect(rollout.stdout).toContain('rollout.completed        3 committed, 0 rolled back, 0 failed');
    const fleet = await eventually('the fleet view to show every device on app-1.0', async () => {
      const view = await devices();
      return Object.values(view).every((d) => d.committedRevision === 'app-1.0') && view;
    });
    expect(Object.values(fleet).map((d) => [d.deviceId, d.phase])).toEqual([
      ['dev-a', 'committed'],
      ['dev-b', 'committed'],
      ['dev-c', 'committed'],
    ]);

    // A release found bad after its rollout ended is rolled back: every device it moved goes back.
    await release('app-2.0', 2);
    const second = await uproll(
      ...[
        'rollout',
        'start',
        'r-2',
        '--revision',
        'app-2.0',
        '--hardware-id',
        'rpi4',
        '--canary',
        '1',
        '--wait',
      ],
    );
    expect(second.status, second.stdout + second.stderr).toBe(0);
    const rollback = await uproll('rollout', 'rollback', 'r-2');
    expect(rollback.status, rollback.stdout + rollback.stderr).toBe(0);
    await eventually('the fleet view to show every device back on app-1.0', async () =>
      Object.values(await devices()).every((d) => d.committedRevision === 'app-1.0'),
    );

    const trail = await uproll('events', 'tail', '--aggregate', 'repository', '--json');
    const events = trail.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; aggregateId: string; data: { by?: string } });
    expect(events.map((e) => [e.aggregateId, e.type, e.data.by])).toEqual([
      ['image', 'repository.keys.created', 'alice@example.com'],
      ['director', 'repository.keys.created', 'alice@example.com'],
      ['image', 'repository.revision.published', 'alice@example.com'],
      ['image', 'repository.revision.published', 'alice@example.com'],
    ]);

    serve.child.kill('SIGTERM');
    expect(await once(serve.child, 'exit')).toEqual([0, null]);
  }, 240_000);
});
