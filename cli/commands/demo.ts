import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { HealthCheck } from '../../agent/index.ts';
import { UprollError, type DomainEvent } from '../../core/index.ts';
import { localStackStatus, requireSettings, stackAddresses } from '../../services/dev-stack/index.ts';
import { installTemporalRuntime, startDeviceUpdate } from '../../services/temporal/index.ts';
import { startSimulatedFleet, startSimulatedRepositories } from '../../sim/index.ts';
import { stateDirOf, UsageError, type Command, type Io } from '../command.ts';
import { startFleetServices } from '../fleet-services.ts';

const ARTIFACT_BYTES = 2 * 1024 * 1024;
const healthy: HealthCheck = {
  command: ['sh', '-c', 'test -s rootfs.img && grep -q demo etc/app.conf'],
  timeoutMs: 10_000,
  attempts: 1,
  intervalMs: 0,
};
const crashesOnBoot: HealthCheck = {
  command: ['sh', '-c', 'echo "demo app exited with status 3 on this board" >&2; exit 3'],
  timeoutMs: 10_000,
  attempts: 1,
  intervalMs: 0,
};

interface DeviceOutcome {
  deviceId: string;
  outcome: 'committed' | 'rolled_back' | 'failed';
  phases: string[];
  deployment?: string;
  reason?: { code: string; message: string };
}

export const demo: Command = {
  name: 'demo',
  summary: 'Update a simulated fleet on the local stack, one device with a failing health check.',
  usage: 'uproll demo [--devices N] [--json]',
  details:
    'Needs `uproll dev up`. Publishes a new 2 MiB revision, starts one deviceUpdateWorkflow per simulated\n' +
    "device and prints each device's phases as the event log records them, then a summary. Device 4 (or\n" +
    'the last one) fails its health check and rolls back. Exits 1 if any update failed.',
  options: { devices: { type: 'string', description: 'number of simulated devices, 2-50 (default 5)' } },
  async run({ values }, io) {
    const count = Number(values.devices ?? 5);
    if (!Number.isInteger(count) || count < 2 || count > 50)
      throw new UsageError('--devices must be a whole number from 2 to 50');
    const stateDir = stateDirOf(values);
    const outcomes = await runDemo(stateDir, count, values.json ? undefined : io);
    if (values.json) io.out(JSON.stringify(outcomes));
    else printSummary(outcomes.devices, io);
    return outcomes.devices.every((d) => d.outcome !== 'failed') ? 0 : 1;
  },
};

async function runDemo(stateDir: string, count: number, io: Io | undefined) {
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
  const rolloutId = `demo-${Date.now().toString(36)}`;
  const unhealthyIndex = Math.min(3, count - 1);
  const devices = Array.from({ length: count }, (_, i) => ({
    deviceId: `demo-${String(i + 1).padStart(2, '0')}`,
    healthCheck: i === unhealthyIndex ? crashesOnBoot : healthy,
  }));
  const revision = '1.1';
  say(
    `Uproll demo: rollout ${rolloutId}, state revision ${revision} (3 artifacts, ${ARTIFACT_BYTES / 1024 / 1024} MiB) to ${count} simulated devices`,
  );
  say(
    `  Temporal ${addresses.temporal}, NATS ${addresses.nats}; ${devices[unhealthyIndex]?.deviceId} will fail its health check`,
  );

  const services = await startFleetServices({ stateDir });
  const cleanups: (() => Promise<unknown>)[] = [() => services.close()];
  try {
    const { nc, client } = services;
    const repositories = await startSimulatedRepositories(join(demoDir, 'repositories'));
    cleanups.unshift(() => repositories.close());
    await repositories.publish(revision, demoArtifacts(revision));
    const fleet = await startSimulatedFleet({
      stateDir,
      dataRoot: join(demoDir, 'devices'),
      natsServers: addresses.nats,
      repositories,
      devices,
    });
    cleanups.unshift(() => fleet.stop());
    for (const { deviceId } of devices) await repositories.assign(deviceId, revision);
    say(`  published ${revision} to the Image repository; the Director assigns it to every device`);
    say('  bundling workflow code and starting the rollout worker…');
    const startedAt = Date.now();
    await services.startWorker();
    say(`  worker ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s\n`);

    const events = nc.subscribe('uproll.evt.device.*', {
      callback: (err, msg) => {
        if (err) return;
        const event = msg.json<DomainEvent<string, { rolloutId?: string; error?: { code: string } }>>();
        if (event.data.rolloutId !== rolloutId) return;
        const phase = event.type.replace('device.update.', '');
        say(
          `  ${event.at.slice(11, 23)}  ${event.aggregateId}  ${phase}${event.data.error ? ` (${event.data.error.code})` : ''}`,
        );
      },
    });
    cleanups.unshift(() => Promise.resolve(events.unsubscribe()));

    const handles = await Promise.all(
      devices.map(({ deviceId }) =>
        startDeviceUpdate(client, { deviceId, command: { rolloutId, revision } }),
      ),
    );
    const settled = await Promise.allSettled(handles.map((handle) => handle.result()));
    const outcomes: DeviceOutcome[] = settled.map((result, i) => {
      const deviceId = devices[i]?.deviceId ?? '?';
      if (result.status === 'fulfilled') return { ...result.value, deviceId };
      const cause = (result.reason as { cause?: { type?: string; message?: string } }).cause;
      return {
        deviceId,
        outcome: 'failed',
        phases: [],
        reason: { code: cause?.type ?? 'UNKNOWN', message: cause?.message ?? String(result.reason) },
      };
    });
    await nc.flush();
    return { rolloutId, revision, devices: outcomes };
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => {});
  }
}

/** A demo state revision: a 2 MiB root filesystem image, an application and its config. */
function demoArtifacts(revision: string) {
  const rootfs = Buffer.alloc(ARTIFACT_BYTES);
  for (let offset = 0; offset < ARTIFACT_BYTES; offset += 32) {
    createHash('sha256').update(`${revision}:${offset}`).digest().copy(rootfs, offset);
  }
  return [
    { path: 'rootfs.img', bytes: rootfs },
    { path: 'bin/app', bytes: Buffer.from(`#!/bin/sh\necho demo app ${revision}\n`) },
    { path: 'etc/app.conf', bytes: Buffer.from(`name = demo\nrevision = ${revision}\n`) },
  ];
}

function printSummary(devices: DeviceOutcome[], io: Io): void {
  const rows = devices.map((d) => [
    d.deviceId,
    d.outcome,
    d.phases.join(' > '),
    d.deployment ?? '-',
    d.reason ? `${d.reason.code}: ${d.reason.message}` : '',
  ]);
  const header = ['DEVICE', 'RESULT', 'PHASES', 'DEPLOYMENT', 'REASON'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const format = (row: string[]) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ');
  io.out(`\n${format(header)}\n${rows.map(format).join('\n')}`);
  const committed = devices.filter((d) => d.outcome === 'committed').length;
  const rolledBack = devices.filter((d) => d.outcome === 'rolled_back').length;
  const failed = devices.length - committed - rolledBack;
  io.out(`\n${committed} committed, ${rolledBack} rolled back, ${failed} failed`);
}
