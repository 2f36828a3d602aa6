import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { startDeviceAgent, type DeviceAgent, type HealthCheck } from '../../agent/index.ts';
import { startFleetServices, type FleetServicesOptions } from '../../cli/fleet-services.ts';
import type { Artifact } from '../../core/index.ts';
import { provisionNatsDevice } from '../../services/dev-stack/index.ts';
import { startRepositoryServer, type RepositoryServer } from '../../services/image-repo/index.ts';
import { installTemporalRuntime } from '../../services/temporal/index.ts';

/** A unique token for ids in a test (devices, rollouts), so test files never collide. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/**
 * The services of the product against the run's real Temporal and NATS:
 * service NATS connection, event log, Temporal client, telemetry bridge, and
 * a worker that can be stopped and started again. Plus devices and artifacts.
 */
export async function startHarness(
  options: Pick<FleetServicesOptions, 'keepMetadataFresh' | 'taskQueue'> = {},
) {
  installTemporalRuntime('ERROR'); // tests fail workflows on purpose; the worker warns about each
  const { stateDir, workflowBundlePath } = inject('integration');
  const services = await startFleetServices({
    stateDir,
    workflowBundle: { codePath: workflowBundlePath },
    commandTimeoutMs: 2000,
    bridgeConsumer: uniqueId('bridge'),
    ...options,
  });
  const workDir = await mkdtemp(join(tmpdir(), 'uproll-harness-'));
  const agents: DeviceAgent[] = [];
  const servers: RepositoryServer[] = [];

  const harness = {
    ...services,
    stateDir,

    /** Provisions a device's NATS user and starts its agent with its own data directory. */
    async startAgent(
      deviceId: string,
      options: { healthCheck?: HealthCheck } = {},
    ): Promise<DeviceAgent & { dataDir: string }> {
      const identity = await provisionNatsDevice(stateDir, deviceId);
      const dataDir = join(workDir, 'devices', deviceId);
      await mkdir(dataDir, { recursive: true });
      const agent = await startDeviceAgent({
        deviceId,
        dataDir,
        natsServers: services.addresses.nats,
        nkeySeed: identity.seed,
        healthCheck: options.healthCheck,
      });
      agents.push(agent);
      return Object.assign(agent, { dataDir });
    },

    /** Provisions a device's NATS user and returns its seed, without starting an agent. */
    provisionDevice: (deviceId: string) => provisionNatsDevice(stateDir, deviceId),

    /** Serves `content` as a target and returns the artifact that names it. */
    async publishArtifact(name: string, content: Uint8Array): Promise<Artifact> {
      const dir = join(workDir, 'targets');
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, name), content);
      if (servers.length === 0) servers.push(await startRepositoryServer({ dir: workDir }));
      return artifactFor(name, content, `${servers[0]?.targetsUrl}${name}`);
    },

    async close(): Promise<void> {
      await services.stopWorker();
      await Promise.all(agents.map((agent) => agent.stop()));
      await Promise.all(servers.map((server) => server.close()));
      await services.close();
      await rm(workDir, { recursive: true, force: true });
    },
  };
  return harness;
}

export type Harness = Awaited<ReturnType<typeof startHarness>>;

/** The artifact (name, url, sha256, length) of some bytes served at `url`. */
export function artifactFor(name: string, content: Uint8Array, url: string): Artifact {
  return {
    name,
    url,
    sha256: createHash('sha256').update(content).digest('hex'),
    length: content.byteLength,
  };
}

/**
 * Serves one artifact whose bytes are held back until `release()`: a download
 * that is provably in flight while the test does something else.
 */
export async function startGatedArtifact(name: string, content: Uint8Array) {
  const { createServer } = await import('node:http');
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let requested!: () => void;
  const firstRequest = new Promise<void>((resolve) => (requested = resolve));
  let requests = 0;
  const server = createServer((_request, response) => {
    requests += 1;
    requested();
    void released.then(() => response.writeHead(200, { 'content-length': content.byteLength }).end(content));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    artifact: artifactFor(name, content, `http://127.0.0.1:${port}/${name}`),
    firstRequest,
    release,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
