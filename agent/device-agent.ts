import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock, HealthCheck } from '../core/index.ts';
import { trustServerCa, type DownloadOptions } from '../adapters/tuf/index.ts';
import { heartbeatAppsOf } from './app-heartbeat.ts';
import { CloudClient } from './cloud-client.ts';
import { ControlClient } from './control-client.ts';
import { startControlSocket } from './control-socket.ts';
import type { AgentIdentity } from './identity.ts';
import type { BootControl } from './boot-control.ts';
import type { Bootloader } from './boot/index.ts';
import { AbSlotsInstaller } from './installers/ab-slots.ts';
import type { Installer } from './installers/installer.ts';
import { OstreeInstaller } from './installers/ostree.ts';
import { OstreeSystemInstaller } from './installers/ostree-system.ts';
import { noServiceNotifier, type ServiceNotifier } from './service-notifier.ts';
import { startWatchdog } from './service-watchdog.ts';
import { UpdateManager, type PhaseBoundary } from './update-manager.ts';
import { updateStepStatus, type UpdateStep } from './update-steps.ts';
import { uptaneClientFor } from './uptane-client.ts';

/** How often the agent looks for stopped apps to restart. */
const APP_SUPERVISE_MS = 2000;

export interface DeviceAgentOptions {
  identity: AgentIdentity;
  dataDir: string;
  /** The device's clock: verification, history, reports and heartbeats. */
  clock: Clock;
  /**
   * `ab` (default) or `ostree`, or an installer of one's own. `ostree` with
   * `ostree.sysroot` deploys OSTree commits into that sysroot; without it,
   * each revision's files become a commit of a private repository.
   */
  installer?: 'ab' | 'ostree' | Installer;
  /** The OSTree system to deploy into (with `installer: 'ostree'`). */
  ostree?: {
    sysroot: string;
    os: string;
    /** Default: `ostree/` beside the Image repository's `targets/`. */
    remoteUrl?: string;
  };
  /** The bootloader, for an installer that switches by rebooting (raw images). */
  bootloader?: Bootloader;
  /** Used when a revision names no health check of its own. */
  healthCheck?: HealthCheck;
  /** The OCI runtime command that runs the revisions' apps (default `runc`). */
  ociRuntime?: readonly [string, ...string[]];
  download?: Pick<DownloadOptions, 'attempts' | 'minBytesPerSecond' | 'windowMs'>;
  /** How often the cloud client says the device is alive (default 30 s). */
  heartbeatMs?: number;
  /** The IANA time zone the heartbeats report (default: the system's), for maintenance windows. */
  timezone?: string;
  /** Run the update manager and its control socket only, without the NATS cloud client. */
  withoutCloud?: boolean;
  log?: (line: string) => void;
  /** Every step of every update, for the log. */
  onStep?: (step: UpdateStep) => void;
  /** The service manager (systemd): READY once up, STATUS per update step, STOPPING at the end. */
  service?: ServiceNotifier;
  /** Called just before READY is said: a stop asked from then on must be a clean one. */
  onReady?: () => void;
  /** Ping the service manager's watchdog this often, each time after the control socket answered. */
  watchdogMs?: number;
  onBoundary?: (boundary: PhaseBoundary) => Promise<void> | void;
}

export interface DeviceAgent {
  deviceId: string;
  updates: UpdateManager;
  /** Path of the update manager's control socket. */
  controlSocket: string;
  /** Waits for a running update to finish, then disconnects. */
  stop(): Promise<void>;
}

/**
 * Starts a device agent: the update manager behind its local control
 * socket, and the NATS cloud client, which talks to the update manager only
 * through that socket (as another provider's client would): it turns
 * commands into socket requests and delivers the journal's reports in
 * order, confirming each one once JetStream stored it.
 */
export async function startDeviceAgent(options: DeviceAgentOptions): Promise<DeviceAgent> {
  const log = options.log ?? (() => {});
  const { identity, dataDir } = options;
  const service = options.service ?? noServiceNotifier;
  // The repositories' HTTPS certificates come from the deployment's CA, which the bundle carries.
  if (identity.serverCaFile) trustServerCa(await readFile(identity.serverCaFile, 'utf8'));
  const installer =
    options.installer === 'ostree'
      ? options.ostree
        ? new OstreeSystemInstaller({
            ...options.ostree,
            remoteUrl: options.ostree.remoteUrl ?? ostreeUrlOf(identity.repositories.imageTargetsUrl),
            ...(identity.serverCaFile ? { tlsCaFile: identity.serverCaFile } : {}),
          })
        : new OstreeInstaller(dataDir)
      : typeof options.installer === 'object'
        ? options.installer
        : new AbSlotsInstaller(dataDir);
  const updates = new UpdateManager({
    device: identity.device,
    dataDir,
    installer,
    deviceKey: identity.deviceKey,
    uptane: uptaneClientFor(identity, dataDir, {
      clock: options.clock,
      ...(options.download ? { floor: options.download } : {}),
    }),
    healthCheck: options.healthCheck,
    ...(options.ociRuntime ? { ociRuntime: options.ociRuntime } : {}),
    download: options.download,
    log,
    onStep: (step) => {
      options.onStep?.(step);
      void service.notify({ STATUS: updateStepStatus(step) });
    },
    clock: options.clock,
    onBoundary: options.onBoundary,
    ...(options.bootloader ? { bootloader: options.bootloader } : {}),
  });
  const socket = await startControlSocket(join(dataDir, 'control.sock'), updates);
  try {
    // Settle what a crash interrupted before taking new commands.
    const recovered = await updates.recover();
    if (recovered !== 'idle') log(`start: ${recovered}`);
  } catch (err) {
    await socket.close();
    throw err;
  }
  // Apps that stop are started again as their restart policy says.
  const stopSupervising = updates.apps.supervise(APP_SUPERVISE_MS, log);
  // Up: the control socket answers and what a crash left is settled. The cloud side may wait for NATS.
  options.onReady?.();
  await service.notify({ READY: '1', STATUS: 'ready' });
  const probe = new ControlClient(socket.path);
  const watchdog = options.watchdogMs
    ? startWatchdog({ notifier: service, intervalMs: options.watchdogMs, probe: () => probe.status(), log })
    : { stop() {} };
  const stopCloud =
    options.withoutCloud || !identity.nats
      ? async () => {}
      : await startCloudSide(identity, socket.path, {
          heartbeatMs: options.heartbeatMs ?? 30_000,
          timezone: options.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone,
          clock: options.clock,
          log,
        }).catch((err: unknown) => {
          watchdog.stop();
          stopSupervising();
          throw err;
        });
  return {
    deviceId: identity.device.deviceId,
    updates,
    controlSocket: socket.path,
    async stop() {
      watchdog.stop(); // systemd stops watching once the unit deactivates
      stopSupervising(); // the apps themselves run on without the agent
      await service.notify({ STOPPING: '1', STATUS: 'stopping' });
      await updates.idle();
      await stopCloud();
      await socket.close();
    },
  };
}

async function startCloudSide(
  identity: AgentIdentity,
  socketPath: string,
  {
    heartbeatMs,
    timezone,
    clock,
    log,
  }: { heartbeatMs: number; timezone: string; clock: Clock; log: (line: string) => void },
): Promise<() => Promise<void>> {
  const nats = identity.nats!;
  const control = new ControlClient(socketPath);
  const cloud = await CloudClient.connect({
    deviceId: identity.device.deviceId,
    servers: nats.servers,
    nkeySeed: nats.nkeySeed,
    ...(nats.tls ? { tls: nats.tls } : {}),
    log,
  });
  const { acked } = await control.ack(0);
  const forwarding = control.events(acked, async (entry) => {
    await cloud.deliver(entry);
    await control.ack(entry.seq);
  });
  forwarding.done.catch((err: unknown) => log(`report forwarding stopped: ${(err as Error).message}`));
  await cloud.serveUpdates((command) => control.update(command));
  await cloud.serveRollbacks(async ({ rolloutId }) => {
    const before = (await control.status()).bootControl.active;
    const after = ((await control.command({ command: 'rollback', rolloutId })) as BootControl).active;
    const rolledBack = before?.rolloutId === rolloutId && after?.rolloutId !== rolloutId;
    return { accepted: true, rolledBack, revision: after?.revision ?? null };
  });
  const beat = async () => {
    const status = await control.status();
    cloud.heartbeat({
      deviceId: identity.device.deviceId,
      at: clock().toISOString(),
      revision: status.bootControl.active?.revision ?? null,
      trial: status.bootControl.trial,
      running: status.running,
      ...(status.progress ? { progress: status.progress } : {}),
      ...(status.bootEnvRepaired ? { bootEnvRepaired: status.bootEnvRepaired } : {}),
      timezone,
      ...(status.apps.length > 0 ? { apps: heartbeatAppsOf(status.apps) } : {}),
    });
  };
  await beat();
  const heartbeats = setInterval(() => void beat().catch(() => {}), heartbeatMs);
  return async () => {
    clearInterval(heartbeats);
    await cloud.close();
    forwarding.close();
    await Promise.race([forwarding.done.catch(() => {}), sleep(5000)]);
  };
}

/** The Image repository serves its OSTree repository as `ostree/` beside `targets/`. */
export function ostreeUrlOf(imageTargetsUrl: string): string {
  return new URL('../ostree/', imageTargetsUrl.replace(/\/?$/, '/')).href;
}
