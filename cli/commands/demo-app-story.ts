import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { NatsConnection } from '@nats-io/transport-node';
import type { DeviceAgent } from '../../agent/index.ts';
import type { startRollout } from '../../services/temporal/index.ts';
import { deleteContainersUnder, startSimulatedFleet, type SimulatedRepositories } from '../../sim/index.ts';
import { appOf, buildAppImages, labelOf, type Tag } from './demo-app-images.ts';
import { rollOut, type DemoRollout } from './demo-rollout.ts';

export const GATEWAY_HARDWARE_ID = 'sim-gateway';
const GATEWAYS = 5;
const BUSYBOX = '/bin/busybox';

/** What the gateways showed; each check holds on every gateway. */
export interface AppStory {
  skipped?: string;
  rollouts: DemoRollout[];
  checks: {
    osKept: boolean;
    sensorKept: boolean;
    webUpdated: boolean;
    crashRolledBack: boolean;
    webBack: boolean;
  };
  /** Revision -> gateways on it and the app versions they run. */
  distribution: Record<string, { devices: number; apps: string }>;
}

/** Why containers cannot run here (they need runc, a static busybox and root), or undefined. */
export async function appStoryBlocker(
  tools: { runc?: string; busybox?: string; uid?: number } = {},
): Promise<string | undefined> {
  const uid = tools.uid ?? process.getuid?.();
  if (uid !== 0) return `containers need root, and the demo runs as uid ${uid ?? 'unknown'}`;
  const runc = tools.runc ?? 'runc';
  if (!(await succeeds(promisify(execFile)(runc, ['--version']))))
    return `${runc} is not installed (Debian package runc)`;
  const busybox = tools.busybox ?? BUSYBOX;
  if (!(await succeeds(stat(busybox)))) return `${busybox} is missing (Debian package busybox-static)`;
  return undefined;
}

/**
 * The third story: 5 gateway boards run two apps as OCI containers. An
 * update of one app changes nothing else on them (no OS write, no reboot,
 * the other app's container untouched), and a version that crashes rolls
 * each gateway back to the apps it had, by itself.
 */
export async function runAppStory(options: {
  stateDir: string;
  /** The gateways' data directories (their containers are deleted at the end). */
  dataRoot: string;
  natsServers: string;
  repositories: SimulatedRepositories;
  services: { nc: NatsConnection; client: Parameters<typeof startRollout>[0] };
  say: (line: string) => void;
}): Promise<AppStory> {
  const { repositories, say } = options;
  const story: AppStory = {
    rollouts: [],
    checks: { osKept: false, sensorKept: false, webUpdated: false, crashRolledBack: false, webBack: false },
    distribution: {},
  };
  const blocker = await appStoryBlocker();
  if (blocker) {
    say(`\nApp story skipped: ${blocker}.`);
    return { ...story, skipped: blocker };
  }
  const images = await buildAppImages(join(options.dataRoot, 'oci-layout'), BUSYBOX);
  const os = [{ path: 'rootfs.img', bytes: Buffer.alloc(64 * 1024, 'gateway os 1.0\n') }];
  const release = async (revision: string, tags: Tag[], title: string) => {
    await repositories.publish(revision, os, {
      hardwareIds: [GATEWAY_HARDWARE_ID],
      apps: tags.map((tag) => appOf(images, tag)),
    });
    say(`\nRelease ${revision}, ${title}: rolling out to hardware ${GATEWAY_HARDWARE_ID}`);
    const result = await rollOut(
      options.services.nc,
      options.services.client,
      revision,
      GATEWAY_HARDWARE_ID,
      say,
    );
    story.rollouts.push(result);
    return result;
  };

  say(
    `\nApps as containers: ${GATEWAYS} gateway boards (hardware ${GATEWAY_HARDWARE_ID}) run two apps with runc`,
  );
  const fleet = await startSimulatedFleet({
    stateDir: options.stateDir,
    dataRoot: options.dataRoot,
    natsServers: options.natsServers,
    repositories,
    devices: Array.from({ length: GATEWAYS }, (_, i) => ({
      deviceId: `gateway-${i + 1}`,
      hardwareId: GATEWAY_HARDWARE_ID,
    })),
  });
  try {
    const gateways = fleet.agents;
    const [first] = gateways as [DeviceAgent];
    const stopsAt = async (result: DemoRollout, expected: DemoRollout['status']) => {
      const error = (await first.updates.history.entries()).findLast(
        (e) => e.revision === result.revision,
      )?.error;
      const stop = storyStop(result, expected, error && { deviceId: first.deviceId, ...error });
      if (stop) say(`  ${stop}`);
      return stop !== undefined;
    };
    const installed = await release(
      'gw-1.0',
      ['sensor-1.0', 'web-1.0'],
      'an OS image and two apps, sensor 1.0 and web 1.0',
    );
    if (await stopsAt(installed, 'completed')) return story;
    say(
      `  ${first.deviceId}: sensor says "${await lastLine(first, 'sensor')}", web says "${await lastLine(first, 'web')}"`,
    );
    const before = await Promise.all(gateways.map(observe));

    const downloaded = new Map<string, number>();
    const stopCounting = gateways.map((agent) =>
      agent.updates.journal.onAppend(({ kind, body }) => {
        const step = body as { phase?: string; revision?: string; bytes?: number };
        if (kind === 'telemetry' && step.phase === 'downloaded' && step.revision === 'gw-1.1')
          downloaded.set(agent.deviceId, step.bytes ?? 0);
      }),
    );
    const updated = await release(
      'gw-1.1',
      ['sensor-1.0', 'web-2.0'],
      'an app-only update (web 1.0 -> 2.0; the OS part and sensor as in gw-1.0)',
    );
    stopCounting.forEach((stop) => stop());
    if (await stopsAt(updated, 'completed')) return story;
    const after = await Promise.all(gateways.map(observe));
    const most = Math.max(...downloaded.values());
    // The OS image is not fetched again: every gateway got under its size.
    story.checks.osKept =
      after.every((a, i) => a.deployment === before[i]?.deployment) &&
      downloaded.size === GATEWAYS &&
      most < os[0]!.bytes.byteLength;
    say(
      `  no reboot, no OS write: ${count(after, (a, i) => a.deployment === before[i]?.deployment)} gateways still run OS slot ${before[0]?.deployment}, ` +
        `each downloaded ${(most / 1024).toFixed(1)} kB at most (web 2.0's manifest, config and script layer)`,
    );
    const sensorKept = (a: Observed, i: number) =>
      a.sensor?.startedAt === before[i]?.sensor?.startedAt && a.sensor?.pid === before[i]?.sensor?.pid;
    story.checks.sensorKept = after.every(sensorKept);
    say(
      `  only web restarted: sensor's container ran on, untouched, on ${count(after, sensorKept)} gateways ` +
        `(${first.deviceId}: pid ${before[0]?.sensor?.pid}, running since ${timeOf(before[0]?.sensor?.startedAt)})`,
    );
    const newOutput = await Promise.all(gateways.map((agent) => lastLine(agent, 'web')));
    story.checks.webUpdated = newOutput.every((line) => line.startsWith('web 2.0'));
    say(`  ${first.deviceId}: web now says "${newOutput[0]}"`);

    const crashed = await release('gw-1.2', ['sensor-1.0', 'web-2.1'], 'web 2.1 crashes on start');
    if (await stopsAt(crashed, 'rolled_back')) return story;
    const errors = await Promise.all(
      gateways.map(
        async (agent) =>
          (await agent.updates.history.entries()).findLast((e) => e.revision === 'gw-1.2')?.error,
      ),
    );
    story.checks.crashRolledBack = errors.every((error) => error?.code === 'APP_UNHEALTHY');
    say(
      `  ${count(errors, (e) => e?.code === 'APP_UNHEALTHY')} gateways rolled back by themselves with ${errors[0]?.code}; ` +
        `${first.deviceId}'s web 2.1 last said "${errors[0]?.message.trimEnd().split('\n').at(-1)}"`,
    );
    const back = await Promise.all(gateways.map(observe));
    const backAsBefore = (a: Observed, i: number) =>
      a.webRunning && a.revision === 'gw-1.1' && sensorKept(a, i);
    story.checks.webBack = back.every(backAsBefore);
    say(
      `  web 2.0 runs again on ${count(back, backAsBefore)} gateways, on gw-1.1; sensor still in its first container`,
    );

    for (const agent of gateways) {
      const revision = (await agent.updates.boot.read()).active?.revision ?? 'none';
      const apps = (await agent.updates.history.revision(revision))?.apps ?? [];
      const entry = (story.distribution[revision] ??= {
        devices: 0,
        apps: apps.map((a) => labelOf(images, a.image.manifest)).join(', '),
      });
      entry.devices += 1;
    }
    return story;
  } finally {
    await fleet.stop();
    await deleteContainersUnder(options.dataRoot);
  }
}

/**
 * Why the story cannot go on after a rollout that did not end as its step needs (undefined: it
 * goes on): what follows observes the gateways as that step left them, which would tell nothing.
 */
export function storyStop(
  rollout: Pick<DemoRollout, 'revision' | 'status'>,
  expected: DemoRollout['status'],
  deviceError?: { deviceId: string; code: string; message: string },
): string | undefined {
  if (rollout.status === expected) return undefined;
  const why = deviceError
    ? ` (${deviceError.deviceId}: ${deviceError.code}: ${deviceError.message.split('\n')[0]})`
    : '';
  return `App story stopped: ${rollout.revision} ended ${rollout.status}, not ${expected}${why}.`;
}

/** Whether every app story step showed what it should. */
export function appStoryEndedAsExpected(story: AppStory): boolean {
  const [first, update, crash] = story.rollouts;
  return (
    first?.status === 'completed' &&
    update?.status === 'completed' &&
    crash?.status === 'rolled_back' &&
    Object.values(story.checks).every(Boolean)
  );
}

type Observed = Awaited<ReturnType<typeof observe>>;

/** What a gateway runs: its revision and OS slot, the sensor container's start, whether web runs. */
async function observe(agent: DeviceAgent) {
  const active = (await agent.updates.boot.read()).active;
  const apps = await agent.updates.apps.status();
  const sensor = apps.find((a) => a.name === 'sensor');
  const state = sensor ? await agent.updates.apps.runc.state(sensor.container) : undefined;
  return {
    revision: active?.revision,
    deployment: active?.deployment,
    sensor: state && { startedAt: state.created, pid: state.pid },
    webRunning: apps.some((a) => a.name === 'web' && a.state === 'running'),
  };
}

/** The last line an app's running container wrote. */
async function lastLine(agent: DeviceAgent, name: string): Promise<string> {
  const app = (await agent.updates.apps.status()).find((a) => a.name === name);
  return app ? ((await agent.updates.apps.tail(app.container)).split('\n').at(-1) ?? '') : '(not running)';
}

const count = <T>(items: readonly T[], test: (item: T, i: number) => boolean) =>
  `${items.filter(test).length} of ${items.length}`;
const timeOf = (iso: string | undefined) => (iso ? `${iso.slice(11, 19)} UTC` : 'unknown');

const succeeds = (promise: Promise<unknown>) =>
  promise.then(
    () => true,
    () => false,
  );
