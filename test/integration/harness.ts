import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import {
  startDeviceAgent,
  type AgentIdentity,
  type DeviceAgent,
  type HealthCheck,
} from '../../agent/index.ts';
import { startFleetServices, type FleetServicesOptions } from '../../cli/fleet-services.ts';
import { localNatsTls, provisionNatsDevice } from '../../services/dev-stack/index.ts';
import { installTemporalRuntime, startDeviceUpdate, startRollout } from '../../services/temporal/index.ts';
import type { DeviceUpdateInput, RolloutInput } from '../../workflows/contracts.ts';
import { startSimulatedRepositories } from '../../sim/index.ts';
import { startCountingProxy } from '../helpers/counting-proxy.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';

/** A unique token for ids in a test (devices, rollouts), so test files never collide. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/**
 * The services of the product against the run's real Temporal and NATS, on a
 * task queue of their own (test files run side by side: a worker must never
 * take another file's workflows, whose Director it does not hold):
 * service NATS connection, event log, Temporal client, telemetry bridge, and
 * a worker that can be stopped and started again. Plus an Image repository
 * and a Director served over HTTP (objects through a counting proxy), and
 * device agents enrolled with both.
 */
export async function startHarness(
  options: Pick<FleetServicesOptions, 'keepMetadataFresh' | 'taskQueue' | 'commandTimeoutMs' | 'bridge'> = {},
) {
  installTemporalRuntime('ERROR'); // tests fail workflows on purpose; the worker warns about each
  const { stateDir, workflowBundlePath } = inject('integration');
  const taskQueue = options.taskQueue ?? uniqueId('harness');
  // The CLI run in this file's process (and the processes it spawns) starts workflows there too.
  process.env['UPROLL_TASK_QUEUE'] = taskQueue;
  const workDir = await mkdtemp(join(tmpdir(), 'uproll-harness-'));
  const repos = await startSimulatedRepositories(join(workDir, 'repositories'));
  const bridgeConsumer = uniqueId('bridge');
  const services = await startFleetServices({
    releases: repos.releases,
    director: repos.director,
    projector: false, // the projections test runs its own
    stateDir,
    workflowBundle: { codePath: workflowBundlePath },
    commandTimeoutMs: 2000,
    bridgeConsumer,
    ...options,
    taskQueue,
  });
  const proxy = await startCountingProxy(repos.imageServer.url);
  const agents: DeviceAgent[] = [];
  const natsTls = await localNatsTls(stateDir);

  const harness = {
    ...services,
    stateDir,
    repos,
    proxy,
    agents,
    taskQueue,
    /** The telemetry bridge's durable consumer. */
    bridgeConsumer,
    /** What a client verifies the stack's NATS with (TLS unless it runs `--insecure`). */
    natsTls,

    startRollout: (input: RolloutInput) => startRollout(services.client, input, { taskQueue }),
    /**
     * Publishes a first revision and rolls it out to `devices` (canary, then
     * the rest), to its end: what a rollback returns them to.
     */
    async rollOutFirstRevision(devices: readonly string[], releaseCounter = 1): Promise<string> {
      const revision = uniqueId('first');
      await repos.publish(revision, randomArtifacts(1, 1024), { releaseCounter });
      const rolloutId = uniqueId('first');
      await (
        await harness.startRollout({
          rolloutId,
          revision,
          target: { devices: [...devices] },
          policy: { canary: 1, waves: { percentages: [100] } },
          startedBy: 'harness',
        })
      ).result();
      return revision;
    },
    startDeviceUpdate: (input: DeviceUpdateInput) => startDeviceUpdate(services.client, input, { taskQueue }),

    /** Provisions a device's NATS user and enrolls it with the Director: its identity, no agent yet. */
    async enroll(deviceId: string): Promise<AgentIdentity> {
      const { credentials: seed } = await provisionNatsDevice(stateDir, deviceId, {
        clock: () => new Date(),
      });
      return repos.enroll(deviceId, { nats: { servers: services.addresses.nats, seed, tls: natsTls } });
    },

    /** Starts a device's agent (enrolling it first, unless its identity is given). */
    async startAgent(
      deviceId: string,
      options: {
        healthCheck?: HealthCheck;
        identity?: AgentIdentity;
        timezone?: string;
        heartbeatMs?: number;
        /** An OSTree system to deploy into (installer `ostree`), pulling through the proxy. */
        ostree?: { sysroot: string; os: string };
      } = {},
    ): Promise<DeviceAgent & { dataDir: string }> {
      const enrolled = options.identity ?? (await harness.enroll(deviceId));
      const dataDir = join(workDir, 'devices', deviceId);
      await mkdir(dataDir, { recursive: true });
      const agent = await startDeviceAgent({
        identity: {
          ...enrolled,
          repositories: { ...enrolled.repositories, imageTargetsUrl: `${proxy.url}/targets/` },
        },
        dataDir,
        clock: () => new Date(),
        ...(options.healthCheck ? { healthCheck: options.healthCheck } : {}),
        ...(options.timezone ? { timezone: options.timezone } : {}),
        ...(options.heartbeatMs ? { heartbeatMs: options.heartbeatMs } : {}),
        ...(options.ostree ? { installer: 'ostree' as const, ostree: options.ostree } : {}),
      });
      agents.push(agent);
      return Object.assign(agent, { dataDir });
    },

    /** Provisions a device's NATS user and returns its credentials, without starting an agent. */
    provisionDevice: (deviceId: string) =>
      provisionNatsDevice(stateDir, deviceId, { clock: () => new Date() }),

    /**
     * Releases a state revision and has the Director assign it to each device
     * named (for the device update `rolloutId`, when given).
     */
    async release(
      revision: string,
      artifacts: readonly { path: string; bytes: Uint8Array }[],
      deviceIds: readonly string[],
      options: Parameters<typeof repos.publish>[2] & { rolloutId?: string } = {},
    ) {
      const { rolloutId, ...publish } = options;
      const published = await repos.publish(revision, artifacts, publish);
      for (const deviceId of deviceIds) await repos.assign(deviceId, revision, rolloutId);
      return published;
    },

    async close(): Promise<void> {
      await services.stopWorker();
      await Promise.all(agents.map((agent) => agent.stop()));
      await proxy.close();
      await repos.close();
      await services.close();
      // An app's exit recorder may still write the record of a container just deleted: retried.
      await rm(workDir, { recursive: true, force: true, maxRetries: 5 });
    },
  };
  return harness;
}

export type Harness = Awaited<ReturnType<typeof startHarness>>;
