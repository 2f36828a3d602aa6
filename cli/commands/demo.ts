import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { UprollError, type DomainEvent, type RolloutPolicyInput } from '../../core/index.ts';
import { localStackStatus, requireSettings, stackAddresses } from '../../services/dev-stack/index.ts';
import { installTemporalRuntime, startRollout } from '../../services/temporal/index.ts';
import {
  SIM_HARDWARE_ID,
  startSimulatedFleet,
  startSimulatedRepositories,
  type SimulatedFleet,
} from '../../sim/index.ts';
import type { RolloutResult } from '../../workflows/index.ts';
import { stateDirOf, UsageError, type Command, type Io } from '../command.ts';
import { startFleetServices } from '../fleet-services.ts';

const ROOTFS_BYTES = 256 * 1024;

/** Waves for the demo: a small canary, then 10%, 50%, everyone; a failure rate over 10% stops it. */
const POLICY: RolloutPolicyInput = {
  canary: 10,
  waves: { percentages: [10, 50, 100] },
  maxInFlight: 50,
  gate: { minSample: 5, maxFailureRate: 0.1 },
  onBreach: 'abort_and_rollback',
};

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
  rollouts: (RolloutResult & { revision: string })[];
  distribution: Record<string, number>;
}

export const demo: Command = {
  name: 'demo',
  summary: 'Roll a good and then a bad release out to a simulated fleet on the local stack.',
  usage: 'uproll demo [--devices N] [--json]',
  details:
    'Needs `uproll dev up`. Starts an Image repository and a Director (keys in memory), a fleet of simulated\n' +
    'device agents (200 by default), and the rollout worker. Release 2.0 rolls out in waves (canary, 10%,\n' +
    '50%, 100%) to every device. Release 2.1 crashes on three boards in ten: its canary breaches the gate,\n' +
    'the rollout stops, and every device it touched goes back to 2.0. Ends with the version distribution.\n' +
    'Exits 1 unless the story ends that way.',
  options: { devices: { type: 'string', description: 'number of simulated devices, 20-500 (default 200)' } },
  async run({ values }, io) {
    const count = Number(values.devices ?? 200);
    if (!Number.isInteger(count) || count < 20 || count > 500)
      throw new UsageError('--devices must be a whole number from 20 to 500');
    const story = await runDemo(stateDirOf(values), count, values.json ? undefined : io);
    if (values.json) io.out(JSON.stringify(story));
    const [good, bad] = story.rollouts;
    const asExpected =
      good?.status === 'completed' && bad?.status === 'rolled_back' && story.distribution['2.0'] === count;
    return asExpected ? 0 : 1;
  },
};

async function runDemo(stateDir: string, count: number, io: Io | undefined): Promise<Story> {
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
  // Each run starts from scratch: new repositories (new keys), factory-fresh devices.
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

    const rollouts: Story['rollouts'] = [];
    for (const [revision, health, title] of [
      ['2.0', undefined, 'a good release'],
      ['2.1', CRASHES_ON_SOME_BOARDS, 'a bad release: its app crashes on 3 boards in 10'],
    ] as const) {
      await repositories.publish(revision, demoArtifacts(revision), health ? { health } : {});
      say(
        `\nRelease ${revision}, ${title}: published (3 artifacts), rolling out to hardware ${SIM_HARDWARE_ID}`,
      );
      rollouts.push({ ...(await rollOut(services.nc, services.client, revision, say)), revision });
    }

    const distribution = await versionDistribution(fleet);
    say('\nFleet version distribution:');
    for (const [revision, devices] of Object.entries(distribution))
      say(
        `  ${revision.padEnd(8)} ${String(devices).padStart(4)} devices  ${'#'.repeat(Math.ceil((40 * devices) / count))}`,
      );
    await services.nc.flush();
    return { fleet: count, rollouts, distribution };
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => {});
  }
}

/** Starts one rollout and tells its story from the event log until it ends. */
async function rollOut(
  nc: NatsConnection,
  client: Parameters<typeof startRollout>[0],
  revision: string,
  say: (line: string) => void,
) {
  const rolloutId = `demo-${revision.replace('.', '-')}-${Date.now().toString(36)}`;
  const started = Date.now();
  const seconds = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s`;
  const events = nc.subscribe(`uproll.evt.rollout.${rolloutId}`, {
    callback: (err, msg) => {
      if (err) return;
      const line = describe(msg.json<DomainEvent<string, Record<string, unknown>>>());
      if (line) say(`  ${seconds()}  ${line}`);
    },
  });
  try {
    const handle = await startRollout(client, {
      rolloutId,
      revision,
      target: { hardwareId: SIM_HARDWARE_ID },
      policy: POLICY,
      startedBy: 'demo',
    });
    return await handle.result();
  } finally {
    await nc.flush();
    events.unsubscribe();
  }
}

function describe(event: DomainEvent<string, Record<string, unknown>>): string | undefined {
  const data = event.data;
  const reason = typeof data['reason'] === 'string' ? data['reason'] : '';
  const counts = data['counts'] as { committed: number; rolledBack: number; failed: number } | undefined;
  const tally = counts
    ? `${counts.committed} committed, ${counts.rolledBack} rolled back, ${counts.failed} failed`
    : '';
  switch (event.type) {
    case 'rollout.started':
      return `rollout started: waves of ${(data['waves'] as number[]).join(', ')} devices`;
    case 'rollout.wave.started':
      return `wave ${String(data['wave'])}${data['wave'] === 0 ? ' (canary)' : ''}: ${String(data['devices'])} devices updating`;
    case 'rollout.wave.finished':
      return `wave ${String(data['wave'])} done: ${tally}`;
    case 'rollout.gate.passed':
      return 'gate passed: failure rate within policy';
    case 'rollout.gate.failed':
      return `GATE FAILED: ${reason}`;
    case 'rollout.aborted':
      return reason ? `rollout stopped (${reason})` : undefined;
    case 'rollout.rolled_back':
      return `every device the rollout touched is back on its previous revision: ${tally}`;
    case 'rollout.completed':
      return `rollout completed: ${tally}`;
    default:
      return undefined;
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
