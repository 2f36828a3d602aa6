import { mkdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { UprollError, type Clock } from '../../core/index.ts';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes.ts';
import { findNatsServer, findTemporal } from './binaries.ts';
import { applyNatsConfig } from './nats-users.ts';
import { assertPortFree } from './ports.ts';
import { isAlive, runningPid, startBackground, stopByPidFile } from './processes.ts';
import {
  DEFAULT_PORTS,
  readSettings,
  stackAddresses,
  writeSettings,
  type StackSettings,
} from './settings.ts';
import { stackPaths } from './state-dir.ts';
import { startupLogExcerpt } from './startup-log.ts';

export interface StartStackOptions {
  stateDir: string;
  /** Signs the NATS identity when the stack starts for the first time. */
  clock: Clock;
  host?: string;
  ports?: Partial<StackSettings['ports']>;
  /** Progress lines for long steps. */
  onProgress?: (message: string) => void;
  /** Start only NATS (tests that restart their own server); default both. */
  natsOnly?: boolean;
  /** Plain-text NATS, for development only: kept once chosen, like the ports. Default: TLS. */
  insecure?: boolean;
  /** Host names besides loopback and `host` the NATS certificate names (how devices reach the stack). */
  tlsHosts?: string[];
  /** NATS asks every client for a certificate (devices: theirs from the fleet CA, `fleetCaFile`). */
  mtls?: { fleetCaFile: string };
  /**
   * Temporal dynamic config (`limit.historyCount.error`, ...) for a dev
   * server this call starts; not kept, unlike the ports. Tests lower
   * Temporal's limits with it.
   */
  temporalDynamicConfig?: Readonly<Record<string, string | number | boolean>>;
}

export interface ComponentStatus {
  running: boolean;
  pid?: number;
  address: string;
}

export interface StackStatus {
  stateDir: string;
  temporal: ComponentStatus;
  nats: ComponentStatus & { monitor: string };
}

/**
 * Starts the local stack: a Temporal dev server (SQLite file, search attributes
 * registered) and a nats-server with JetStream and the generated
 * configuration. Idempotent: components already running are left alone.
 * Settings chosen at the first start are kept unless ports are given.
 */
export async function startLocalStack(options: StartStackOptions): Promise<StackStatus> {
  const { stateDir } = options;
  const progress = options.onProgress ?? (() => {});
  const paths = stackPaths(stateDir);
  await mkdir(paths.temporal.dir, { recursive: true });
  await mkdir(paths.nats.store, { recursive: true });

  const previous = await readSettings(stateDir);
  const settings: StackSettings = {
    host: options.host ?? previous?.host ?? '127.0.0.1',
    namespace: previous?.namespace ?? 'default',
    ports: { ...DEFAULT_PORTS, ...previous?.ports, ...options.ports },
    tls: options.insecure === undefined ? (previous?.tls ?? true) : !options.insecure,
    tlsHosts: options.tlsHosts ?? previous?.tlsHosts ?? [],
    mtls: options.mtls !== undefined || (previous?.mtls ?? false),
  };
  await writeSettings(stateDir, settings);
  const addresses = stackAddresses(settings);

  if ((await runningPid(paths.nats.pid, 'nats-server')) === undefined) {
    const natsServer = await findNatsServer();
    await assertPortFree(settings.host, settings.ports.nats, 'NATS');
    await assertPortFree(settings.host, settings.ports.natsMonitor, 'NATS monitoring');
    await applyNatsConfig(stateDir, options.clock, options.mtls);
    progress(`starting nats-server on ${addresses.nats}`);
    const pid = await startBackground({
      command: natsServer,
      args: ['-c', paths.nats.config],
      logFile: paths.nats.log,
      pidFile: paths.nats.pid,
    });
    await waitUntil(`nats-server (log: ${paths.nats.log})`, pid, paths.nats.log, () =>
      natsHealthy(addresses.natsMonitor),
    );
  }

  if (!options.natsOnly && (await runningPid(paths.temporal.pid, 'temporal')) === undefined) {
    const temporal = await findTemporal();
    await assertPortFree(settings.host, settings.ports.temporal, 'Temporal');
    progress(`starting the Temporal dev server on ${addresses.temporal}`);
    // The dev server picks its HTTP API and metrics ports itself, free when picked: another
    // process can bind one before it does (seen in the suite). Only that is tried again.
    for (let attempt = 1; ; attempt++) {
      try {
        const pid = await startBackground({
          command: temporal,
          args: [
            'server',
            'start-dev',
            '--headless',
            '--ip',
            settings.host,
            '--port',
            String(settings.ports.temporal),
            '--db-filename',
            paths.temporal.db,
            // WAL: the dev server waited on SQLite with the defaults (bench:rollout 1.5 -> 4.6+ updates/s).
            '--sqlite-pragma',
            'journal_mode=wal',
            '--sqlite-pragma',
            'synchronous=normal',
            '--log-level',
            'warn',
            ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => [
              '--search-attribute',
              `${name}=${type}`,
            ]),
            // The CLI takes each value as JSON.
            ...Object.entries(options.temporalDynamicConfig ?? {}).flatMap(([key, value]) => [
              '--dynamic-config-value',
              `${key}=${JSON.stringify(value)}`,
            ]),
          ],
          logFile: paths.temporal.log,
          pidFile: paths.temporal.pid,
        });
        await waitUntil(`the Temporal dev server (log: ${paths.temporal.log})`, pid, paths.temporal.log, () =>
          temporalHealthy(addresses.temporal),
        );
        break;
      } catch (err) {
        if (attempt >= 3 || !lostAPortOfItsOwn(err, settings.ports.temporal)) throw err;
        progress(`the Temporal dev server lost a port it picked to another process: starting it again`);
      }
    }
  }
  return localStackStatus(stateDir);
}

/** Stops one component (to restart it with `startLocalStack`, which starts only what is missing). */
export function stopStackComponent(stateDir: string, component: 'temporal' | 'nats'): Promise<boolean> {
  const paths = stackPaths(stateDir);
  return component === 'temporal'
    ? stopByPidFile(paths.temporal.pid, 'temporal')
    : stopByPidFile(paths.nats.pid, 'nats-server');
}

/** Stops only the processes `up` started, by their pid files. */
export async function stopLocalStack(stateDir: string): Promise<{ temporal: boolean; nats: boolean }> {
  const paths = stackPaths(stateDir);
  const temporal = await stopByPidFile(paths.temporal.pid, 'temporal');
  const nats = await stopByPidFile(paths.nats.pid, 'nats-server');
  return { temporal, nats };
}

export async function localStackStatus(stateDir: string): Promise<StackStatus> {
  const paths = stackPaths(stateDir);
  const settings = await readSettings(stateDir);
  const addresses = settings ? stackAddresses(settings) : { temporal: '-', nats: '-', natsMonitor: '-' };
  const temporalPid = await runningPid(paths.temporal.pid, 'temporal');
  const natsPid = await runningPid(paths.nats.pid, 'nats-server');
  return {
    stateDir,
    temporal: { running: temporalPid !== undefined, pid: temporalPid, address: addresses.temporal },
    nats: {
      running: natsPid !== undefined,
      pid: natsPid,
      address: addresses.nats,
      monitor: addresses.natsMonitor,
    },
  };
}

/** A start that failed binding a port the server chose itself (not the gRPC port it was given). */
export function lostAPortOfItsOwn(err: unknown, grpcPort: number): boolean {
  const message = err instanceof Error ? err.message : '';
  return /bind: address already in use/.test(message) && !message.includes(`:${grpcPort}: bind`);
}

async function waitUntil(
  what: string,
  pid: number,
  logFile: string,
  healthy: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await healthy()) return;
    if (!isAlive(pid)) {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      throw new UprollError('STARTUP_FAILED', `${what} exited during startup:\n${startupLogExcerpt(log)}`);
    }
    await sleep(100);
  }
  throw new UprollError('STARTUP_FAILED', `${what} was not ready after ${timeoutMs / 1000} s`);
}

async function natsHealthy(monitorUrl: string): Promise<boolean> {
  const response = await fetch(`${monitorUrl}/healthz?js-enabled=true`).catch(() => undefined);
  return response?.ok ?? false;
}

async function temporalHealthy(address: string): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: 1000 });
    try {
      await connection.workflowService.getSystemInfo({});
      return true;
    } finally {
      await connection.close();
    }
  } catch {
    return false;
  }
}
