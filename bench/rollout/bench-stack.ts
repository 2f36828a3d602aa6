// Everything a rollout benchmark runs against, started before the timed part and
// stopped after it: its own local stack, repositories, services and fleet.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFleetServices, type FleetServices } from '../../cli/fleet-services.ts';
import {
  findFreeClusterPorts,
  findFreePort,
  localStackStatus,
  localNatsTls,
  serviceCredentials,
  startLocalStack,
  stopLocalStack,
} from '../../services/dev-stack/index.ts';
import { bundleWorkflows, installTemporalRuntime } from '../../services/temporal/index.ts';
import { startSimulatedRepositories, type SimulatedRepositories } from '../../sim/index.ts';
import { startWorkerProcess } from '../../test/helpers/worker-process.ts';
import type { DeviceTimeline } from './device-timeline.ts';
import { enrollDevices, releasedImageOf } from '../../sim/index.ts';
import { startFleetProcess, type FleetProcess } from './fleet-process.ts';

/** Durable consumer of the telemetry bridge, watched for its backlog. */
const BRIDGE_CONSUMER = 'bench-telemetry-bridge';

export interface BenchStack {
  stateDir: string;
  devices: string[];
  repos: SimulatedRepositories;
  services: FleetServices;
  /** The simulated devices, in a process of their own. */
  fleet: FleetProcess;
  bridgeConsumer: string;
  /** What the services dropped (telemetry the bridge refused, events the projector failed on), with the first reason. */
  dropped: { count: number; first?: string };
  /** `devices`: the simulated fleet, whose CPU is the devices' and not the stack's. On a cluster, `nats` is node 0. */
  pids: { worker: number; temporal: number; nats: number; devices: number };
  /** The stack's other processes: NATS nodes `nats-N` of a cluster, rollout workers `worker-N` of their own. */
  otherPids: Record<string, number>;
  setup: { stackSeconds: number; enrollSeconds: number };
  /** Where the Director and the fleet mark each device's steps from now on. */
  follow(timeline: DeviceTimeline | undefined): void;
  close(): Promise<void>;
}

/**
 * Starts a Temporal dev server and a nats-server on free ports of 127.0.0.1
 * in a fresh temporary state directory, the simulated repositories with
 * `deviceCount` devices enrolled, the services with the rollout worker in
 * this process, and the protocol-level fleet in a process of its own. `onTempDir` learns the
 * directory at once, so an interrupt can clean up a half-started stack.
 */
export async function startBenchStack(options: {
  deviceCount: number;
  /** A local JetStream cluster of this many nodes (3 or 5) instead of one nats-server. */
  natsCluster?: number;
  /** Rollout workers: this process's, and the others in processes of their own (default 1). */
  workers?: number;
  onTempDir: (dir: string) => void;
  log: (line: string) => void;
}): Promise<BenchStack> {
  const tempDir = await mkdtemp(join(tmpdir(), 'uproll-bench-rollout-'));
  options.onTempDir(tempDir);
  const stateDir = join(tempDir, 'stack');
  const closers: (() => Promise<unknown>)[] = [
    () => rm(tempDir, { recursive: true, force: true }),
    () => stopLocalStack(stateDir),
  ];
  const close = async () => {
    for (const closer of closers.splice(0).reverse()) await closer().catch(() => {});
  };
  try {
    installTemporalRuntime('WARN');
    const stackStarted = performance.now();
    const ports = {
      temporal: await findFreePort(),
      nats: await findFreePort(),
      natsMonitor: await findFreePort(),
    };
    const natsCluster = options.natsCluster ? await findFreeClusterPorts(options.natsCluster) : undefined;
    const [, bundle] = await Promise.all([
      startLocalStack({
        stateDir,
        ports,
        clock: () => new Date(),
        onProgress: options.log,
        ...(natsCluster ? { natsCluster } : {}),
      }),
      bundleWorkflows(),
    ]);
    const stackSeconds = (performance.now() - stackStarted) / 1000;

    const repos = await startSimulatedRepositories(join(tempDir, 'repositories'));
    closers.push(() => repos.close());
    const width = String(options.deviceCount - 1).length;
    const devices = Array.from(
      { length: options.deviceCount },
      (_, i) => `bench-${String(i).padStart(width, '0')}`,
    );
    options.log(`enrolling ${devices.length} devices with the Director`);
    const enrollStarted = performance.now();
    const keys = await enrollDevices(repos, devices);
    const enrollSeconds = (performance.now() - enrollStarted) / 1000;

    let timeline: DeviceTimeline | undefined;
    const dropped: BenchStack['dropped'] = { count: 0 };
    const services = await startFleetServices({
      stateDir,
      workflowBundle: { code: bundle },
      bridgeConsumer: BRIDGE_CONSUMER,
      onDropped: (reason) => {
        dropped.count += 1;
        dropped.first ??= reason;
      },
      director: repos.director,
      releases: {
        devices: (target) => repos.releases.devices(target),
        async assign(deviceId, revision, rolloutId) {
          timeline?.mark(deviceId, 'assigning');
          await repos.releases.assign(deviceId, revision, rolloutId);
          timeline?.mark(deviceId, 'assigned');
        },
      },
    });
    closers.push(() => services.close());
    await services.startWorker();
    closers.push(() => services.stopWorker());

    // Its marks are in ms since the epoch; the timeline's, in ms of this process's clock.
    const here = (epochMs: number) => epochMs - performance.timeOrigin;
    const fleet = await startFleetProcess({
      servers: services.addresses.nats,
      nkeySeed: await serviceCredentials(stateDir),
      tls: await localNatsTls(stateDir),
      devices: keys,
      releasedImage: releasedImageOf(repos),
      marks: ({ commanded, reported }) => {
        for (const [deviceId, at] of commanded) timeline?.mark(deviceId, 'commanded', here(at));
        for (const [deviceId, at] of reported) timeline?.mark(deviceId, 'reported', here(at));
      },
    });
    closers.push(() => fleet.stop());

    const otherWorkers: Record<string, number> = {};
    if ((options.workers ?? 1) > 1) {
      const bundlePath = join(tempDir, 'workflow-bundle.js');
      await writeFile(bundlePath, bundle);
      for (let i = 2; i <= (options.workers ?? 1); i++) {
        options.log(`starting rollout worker ${i} in a process of its own`);
        const worker = await startWorkerProcess({
          stateDir,
          reposDir: join(tempDir, 'repositories'),
          directorKeys: repos.directorOnlineKeys(),
          workflowBundlePath: bundlePath,
          bridgeConsumer: BRIDGE_CONSUMER,
        });
        closers.push(() => worker.kill());
        otherWorkers[`worker-${i}`] = worker.pid;
      }
    }

    const status = await localStackStatus(stateDir);
    if (status.temporal.pid === undefined || status.nats.pid === undefined)
      throw new Error(`the local stack in ${stateDir} is not running`);
    const otherNodes = Object.fromEntries(
      (status.nats.nodes ?? []).slice(1).map((node, i) => [`nats-${i + 1}`, node.pid ?? 0]),
    );
    return {
      stateDir,
      devices,
      repos,
      services,
      fleet,
      bridgeConsumer: BRIDGE_CONSUMER,
      dropped,
      pids: {
        worker: process.pid,
        temporal: status.temporal.pid,
        nats: status.nats.pid,
        devices: fleet.pid,
      },
      otherPids: { ...otherNodes, ...otherWorkers },
      setup: { stackSeconds, enrollSeconds },
      follow: (next) => (timeline = next),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
