import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import {
  AbSlotsInstaller,
  OstreeInstaller,
  UpdateManager,
  uptaneClientFor,
  type AgentIdentity,
  type Installer,
  type UpdateManagerOptions,
} from '../../agent/index.ts';
import type { HealthCheckInput, Telemetry } from '../../core/index.ts';
import { healthCheckSchema } from '../../core/index.ts';
import { startSimulatedRepositories } from '../../sim/index.ts';
import { startCountingProxy } from './counting-proxy.ts';

/** A health check from a shell snippet run in the deployment. */
export function shellCheck(script: string, timeoutMs = 5000) {
  return healthCheckSchema.parse({ command: ['sh', '-c', script], timeoutMs } satisfies HealthCheckInput);
}

/** A device's update manager (no NATS) on `dataDir`, for the device `identity` names, A/B slots by default. */
export function updateManagerFor(
  identity: AgentIdentity,
  dataDir: string,
  options: Omit<Partial<UpdateManagerOptions>, 'installer' | 'clock'> & {
    installer?: UpdateManagerOptions['installer'] | 'ab' | 'ostree' | undefined;
    clock: () => Date;
  },
) {
  const { installer, clock, ...managerOptions } = options;
  return new UpdateManager({
    device: identity.device,
    dataDir,
    installer:
      installer === 'ostree'
        ? new OstreeInstaller(dataDir)
        : installer === 'ab' || installer === undefined
          ? new AbSlotsInstaller(dataDir)
          : installer,
    uptane: uptaneClientFor(identity, dataDir, {
      ...(managerOptions.download ? { floor: managerOptions.download } : {}),
      clock,
    }),
    deviceKey: identity.deviceKey,
    download: { attempts: 3, minBytesPerSecond: 1, windowMs: 30_000 },
    clock,
    ...managerOptions,
  });
}

/**
 * One device's update manager (no NATS) against a real Image repository and
 * Director served over HTTP, with a counting proxy in front of the objects.
 * `restart()` stands for the agent process starting again on the same data.
 */
export async function startAgentRig(
  options: Partial<
    Pick<UpdateManagerOptions, 'healthCheck' | 'download' | 'onBoundary' | 'clock' | 'bootloader'>
  > & {
    /**
     * `ab` (default), `ostree` (directories), or an installer made for the rig's data directory and
     * the URL of the Image repository's OSTree repo (through the proxy).
     */
    installer?: 'ab' | 'ostree' | ((where: { dataDir: string; ostreeUrl: string }) => Installer);
    /** The OCI runtime command the apps run with, at every start (default runc). */
    ociRuntime?: readonly [string, ...string[]];
    /** Give the agent its data directory relative to the working directory, as `--data-dir data` does. */
    relativeDataDir?: boolean;
  } = {},
) {
  const {
    installer: chosen,
    clock = () => new Date(),
    ociRuntime,
    relativeDataDir,
    ...managerOptions
  } = options;
  const root = await mkdtemp(join(tmpdir(), 'uproll-agent-rig-'));
  const repos = await startSimulatedRepositories(join(root, 'repositories'), clock);
  const proxy = await startCountingProxy(repos.imageServer.url);
  const deviceId = `dev-${randomBytes(3).toString('hex')}`;
  const enrolled = await repos.enroll(deviceId);
  const identity: AgentIdentity = {
    ...enrolled,
    repositories: { ...enrolled.repositories, imageTargetsUrl: `${proxy.url}/targets/` },
  };
  const dataDir = join(root, 'device');
  const ostreeUrl = `${proxy.url}/ostree/`;
  const build = (overrides: Partial<UpdateManagerOptions> = {}) =>
    updateManagerFor(identity, relativeDataDir ? relative(process.cwd(), dataDir) : dataDir, {
      // A new installer at each start, as a new agent process makes.
      installer: typeof chosen === 'function' ? chosen({ dataDir, ostreeUrl }) : chosen,
      clock,
      ...(ociRuntime ? { ociRuntime } : {}),
      ...managerOptions,
      ...overrides,
    });
  let manager = build();
  let rollouts = 0;

  return {
    root,
    repos,
    proxy,
    ostreeUrl,
    identity,
    deviceId,
    dataDir,
    get manager() {
      return manager;
    },
    /** The agent starts again on the same data directory (after a crash or a reboot). */
    restart(overrides: Partial<UpdateManagerOptions> = {}) {
      manager = build(overrides);
      return manager;
    },
    /** Releases a revision in the Image repository and has the Director assign it to the device. */
    async release(
      name: string,
      artifacts: readonly { path: string; bytes: Uint8Array; executable?: boolean; image?: 'rootfs' }[],
      publish: Parameters<typeof repos.publish>[2] = {},
    ) {
      const published = await repos.publish(name, artifacts, publish);
      await repos.assign(deviceId, name);
      return published;
    },
    /** Replaces an object's bytes in the Image repository (same length, other content): its download fails to verify. */
    async tamperObject(sha256: string) {
      const path = join(repos.image.dir, 'targets', 'objects', sha256);
      const bytes = await readFile(path);
      await writeFile(path, Buffer.from(bytes.map((b) => b ^ 0xff)));
    },
    /** Commands the update and waits for it to end; returns its telemetry. */
    async update(revision: string, rolloutId = `r${++rollouts}-${revision}`) {
      const reply = await manager.accept({ rolloutId, revision });
      await manager.idle();
      return { reply, telemetry: await telemetryOf(manager, rolloutId) };
    },
    async close() {
      await manager.idle();
      await proxy.close();
      await repos.close().catch(() => {}); // a test may have taken them offline already
      await rm(root, { recursive: true, force: true });
    },
  };
}

export type AgentRig = Awaited<ReturnType<typeof startAgentRig>>;

/** The telemetry the manager journaled for one rollout, in order. */
export async function telemetryOf(manager: UpdateManager, rolloutId: string): Promise<Telemetry[]> {
  return (await manager.journal.after(0))
    .filter((entry) => entry.kind === 'telemetry')
    .map((entry) => entry.body as Telemetry)
    .filter((t) => t.rolloutId === rolloutId);
}

/** `count` artifacts of `size` random bytes each, with distinct paths. */
export function randomArtifacts(count: number, size = 4096) {
  return Array.from({ length: count }, (_, i) => ({ path: `part-${i}.bin`, bytes: randomBytes(size) }));
}

/** Waits for the rig's update to end, deletes every container it started (also after a failed test), and closes it. */
export async function closeAppRig(rig: AgentRig): Promise<void> {
  await rig.manager.idle();
  for (const id of await rig.manager.apps.runc.list().catch(() => [])) await rig.manager.apps.runc.delete(id);
  await rig.close();
}
