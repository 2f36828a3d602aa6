import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { UprollError } from '../../core/index.ts';
import { localStackStatus, requireSettings, stackAddresses } from '../../services/dev-stack/index.ts';
import { installTemporalRuntime } from '../../services/temporal/index.ts';
import {
  deleteContainersUnder,
  SIM_HARDWARE_ID,
  startSimulatedFleet,
  startSimulatedRepositories,
  type SimulatedFleet,
} from '../../sim/index.ts';
import { stateDirOf, UsageError, type Command, type Io } from '../command.ts';
import { startFleetServices } from '../fleet-services.ts';
import { appStoryEndedAsExpected, runAppStory, type AppStory } from './demo-app-story.ts';
import { rollOut, type DemoRollout } from './demo-rollout.ts';
import { startDemoDashboard } from './demo-dashboard.ts';

const ROOTFS_BYTES = 256 * 1024;

/** The bad release's app crashes on three boards in ten (device ids ending in 0, 3 or 6). */
const CRASHES_ON_SOME_BOARDS = {
  command: [
    'sh',
    '-c',
    'case "$UPROLL_DEVICE_ID" in *0|*3|*6) echo "app 2.1 crashed: unsupported display controller" >&2; exit 3;; esac',
  ] as [string, ...string[]],
  timeoutMs: 10_000,
};

interface Story {
  fleet: number;
  rollouts: DemoRollout[];
  /** Devices of the simulated fleet by revision. */
  distribution: Record<string, number>;
  apps: AppStory;
}

export const demo: Command = {
  name: 'demo',
  summary:
    'Roll a good and a bad release out to a simulated fleet, then an app update to gateways, on the local stack.',
  usage: 'uproll demo [--devices N] [--json]',
  details:
    'Needs `uproll dev up`. Starts an Image repository and a Director (keys in memory), a fleet of simulated\n' +
    'device agents (200 by default), and the rollout worker. Release 2.0 rolls out in waves (canary, 10%,\n' +
    '50%, 100%) to every device. Release 2.1 crashes on three boards in ten: its canary breaches the gate,\n' +
    'the rollout stops, and every device it touched goes back to 2.0. Then 5 gateway boards get two apps\n' +
    'as OCI containers (run with runc: needs root, runc and /bin/busybox, else this story is skipped): an\n' +
    'update of one app restarts only that app, without an OS write or a reboot, and a version that crashes\n' +
    'rolls each gateway back with APP_UNHEALTHY. Ends with the version distribution and the apps they run.\n' +
    'Exits 1 unless the stories end that way.',
  options: {
    devices: { type: 'string', description: 'number of simulated devices, 20-500 (default 200)' },
    dashboard: {
      type: 'boolean',
      description:
        'after the stories, keep the dashboard (printed with a token at the start) open until Ctrl-C',
    },
  },
  async run({ values }, io) {
    const count = Number(values.devices ?? 200);
    if (!Number.isInteger(count) || count < 20 || count > 500)
      throw new UsageError('--devices must be a whole number from 20 to 500');
    const story = await runDemo(stateDirOf(values), count, values.json ? undefined : io, {
      keepDashboard: values['dashboard'] === true,
    });
    if (values.json) io.out(JSON.stringify(story));
    const [good, bad] = story.rollouts;
    const asExpected =
      good?.status === 'completed' &&
      bad?.status === 'rolled_back' &&
      story.distribution['2.0'] === count &&
      (story.apps.skipped !== undefined || appStoryEndedAsExpected(story.apps));
    return asExpected ? 0 : 1;
  },
};

async function runDemo(
  stateDir: string,
  count: number,
  io: Io | undefined,
  options: { keepDashboard: boolean },
): Promise<Story> {
  const status = await localStackStatus(stateDir);
  if (!status.temporal.running || !status.nats.running) {
    throw new UprollError(
      'STACK_NOT_RUNNING',
      `the local stack in ${stateDir} is not running: run \`uproll dev up\` first`,
    );
  }
  const addresses = stackAddresses(await requireSettings(stateDir));
  installTemporalRuntime();
  const say = (line: string) => io?.out(line);
  const demoDir = join(stateDir, 'demo');
  const gatewaysDir = join(demoDir, 'gateways');
  // Each run starts from scratch: new repositories (new keys), factory-fresh devices, no containers
  // left by a run that was interrupted.
  await deleteContainersUnder(gatewaysDir);
  await rm(demoDir, { recursive: true, force: true });
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const repositories = await startSimulatedRepositories(join(demoDir, 'repositories'));
    cleanups.unshift(() => repositories.close());
    const services = await startFleetServices({
      stateDir,
      releases: repositories.releases,
      director: repositories.director,
    });
    cleanups.unshift(() => services.close());
    say(`Uproll demo on Temporal ${addresses.temporal} and NATS ${addresses.nats}`);
    say(`  starting ${count} simulated devices (hardware ${SIM_HARDWARE_ID}), each its own NATS user…`);
    const fleet = await startSimulatedFleet({
      stateDir,
      dataRoot: join(demoDir, 'devices'),
      natsServers: addresses.nats,
      repositories,
      devices: Array.from({ length: count }, (_, i) => ({
        deviceId: `demo-${String(i + 1).padStart(3, '0')}`,
      })),
    });
    cleanups.unshift(() => fleet.stop());
    say('  bundling workflow code and starting the rollout worker…');
    await services.startWorker();
    const dashboard = await startDemoDashboard({
      ...services,
      director: repositories.director,
      image: repositories.image,
    });
    cleanups.unshift(() => dashboard.close());
    say(`  the dashboard, live: ${dashboard.url} (sign in with this token of a release manager:)`);
    say(`  ${dashboard.token}`);

    const rollouts: Story['rollouts'] = [];
    for (const [revision, health, title] of [
      ['2.0', undefined, 'a good release'],
      ['2.1', CRASHES_ON_SOME_BOARDS, 'a bad release: its app crashes on 3 boards in 10'],
    ] as const) {
      await repositories.publish(revision, demoArtifacts(revision), health ? { health } : {});
      say(
        `\nRelease ${revision}, ${title}: published (3 artifacts), rolling out to hardware ${SIM_HARDWARE_ID}`,
      );
      rollouts.push(await rollOut(services.nc, services.client, revision, SIM_HARDWARE_ID, say));
    }
    const apps = await runAppStory({
      stateDir,
      dataRoot: gatewaysDir,
      natsServers: addresses.nats,
      repositories,
      services,
      say,
    });

    const distribution = await versionDistribution(fleet);
    say('\nFleet version distribution:');
    const bar = (devices: number) => '#'.repeat(Math.ceil((40 * devices) / count)).padEnd(40);
    for (const [revision, devices] of Object.entries(distribution))
      say(`  ${revision.padEnd(8)} ${String(devices).padStart(4)} devices  ${bar(devices)}`.trimEnd());
    for (const [revision, { devices, apps: versions }] of Object.entries(apps.distribution))
      say(
        `  ${revision.padEnd(8)} ${String(devices).padStart(4)} devices  ${bar(devices)}  apps: ${versions}`,
      );
    await services.nc.flush();
    if (options.keepDashboard) {
      say(`\nThe dashboard stays open at ${dashboard.url}: Ctrl-C ends the demo.`);
      await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
    } else say(`\n(\`npm run demo -- --dashboard\` keeps the dashboard open after the stories.)`);
    return { fleet: count, rollouts, distribution, apps };
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => {});
  }
}

async function versionDistribution(fleet: SimulatedFleet): Promise<Record<string, number>> {
  const distribution: Record<string, number> = {};
  for (const agent of fleet.agents) {
    const revision = (await agent.updates.boot.read()).active?.revision ?? 'none';
    distribution[revision] = (distribution[revision] ?? 0) + 1;
  }
  return distribution;
}

/** A demo state revision: a root filesystem image, an application and its config. */
function demoArtifacts(revision: string) {
  const rootfs = Buffer.alloc(ROOTFS_BYTES);
  for (let offset = 0; offset < ROOTFS_BYTES; offset += 32) {
    createHash('sha256').update(`${revision}:${offset}`).digest().copy(rootfs, offset);
  }
  return [
    { path: 'rootfs.img', bytes: rootfs },
    { path: 'bin/app', bytes: Buffer.from(`#!/bin/sh\necho demo app ${revision}\n`) },
    { path: 'etc/app.conf', bytes: Buffer.from(`name = demo\nrevision = ${revision}\n`) },
  ];
}
