import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { UprollError, type Clock } from '../../core/index.ts';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes.ts';
import { findNatsServer, findTemporal } from './binaries.ts';
import { applyNatsConfig, runningNatsNodes } from './nats-users.ts';
import { assertPortFree } from './ports.ts';
import { isAlive, runningPid, startBackground, stopByPidFile } from './processes.ts';
import {
  DEFAULT_PORTS,
  NATS_CLUSTER_SIZES,
  natsNodesOf,
  readSettings,
  stackAddresses,
  writeSettings,
  type NatsNodePorts,
  type StackSettings,
} from './settings.ts';
import { natsNodePaths, stackPaths } from './state-dir.ts';
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
  /**
   * A local JetStream cluster instead of one nats-server: its size (3 or 5;
   * node i on the NATS and monitoring ports + i, routes from 16222), or every
   * node's ports (node 0's the NATS ones). Kept once chosen; a stack whose
   * JetStream already holds data keeps its node count.
   */
  natsCluster?: number | NatsNodePorts[];
}

export interface ComponentStatus {
  running: boolean;
  pid?: number;
  address: string;
}

export interface StackStatus {
  stateDir: string;
  temporal: ComponentStatus;
  /** Running when every node runs; `nodes` lists each node of a cluster. */
  nats: ComponentStatus & { monitor: string; nodes?: (ComponentStatus & { monitor: string })[] };
}

/** Route ports of a local cluster's nodes when only its size is given: node i on 16222 + i. */
const DEFAULT_ROUTE_PORT = 16222;

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
  const ports = { ...DEFAULT_PORTS, ...previous?.ports, ...options.ports };
  const natsCluster = await clusterOf(stateDir, options.natsCluster, ports, previous);
  if (natsCluster) Object.assign(ports, { nats: natsCluster[0]!.nats, natsMonitor: natsCluster[0]!.monitor });
  const settings: StackSettings = {
    host: options.host ?? previous?.host ?? '127.0.0.1',
    namespace: previous?.namespace ?? 'default',
    ports,
    tls: options.insecure === undefined ? (previous?.tls ?? true) : !options.insecure,
    tlsHosts: options.tlsHosts ?? previous?.tlsHosts ?? [],
    mtls: options.mtls !== undefined || (previous?.mtls ?? false),
    ...(natsCluster ? { natsCluster } : {}),
  };
  await writeSettings(stateDir, settings);
  const addresses = stackAddresses(settings);

  const running = await runningNatsNodes(stateDir);
  const nodes = natsNodesOf(settings);
  if (running.length < nodes.length) {
    const natsServer = await findNatsServer();
    await applyNatsConfig(stateDir, options.clock, options.mtls);
    // Every node starts before any is waited for: a cluster node is healthy only once a majority runs.
    const started: { pid: number; log: string; monitor: number }[] = [];
    for (const [i, node] of nodes.entries()) {
      if (running.includes(i)) continue;
      const nodePaths = natsNodePaths(stateDir, i);
      const what = nodes.length > 1 ? `NATS node ${i}` : 'NATS';
      await assertPortFree(settings.host, node.nats, what);
      await assertPortFree('127.0.0.1', node.monitor, `${what} monitoring`);
      if (settings.natsCluster) await assertPortFree('127.0.0.1', node.route, `${what} routes`);
      await mkdir(nodePaths.store, { recursive: true });
      progress(
        `starting nats-server on ${settings.host}:${node.nats}${nodes.length > 1 ? ` (node ${i})` : ''}`,
      );
      const pid = await startBackground({
        command: natsServer,
        args: ['-c', nodePaths.config],
        logFile: nodePaths.log,
        pidFile: nodePaths.pid,
      });
      started.push({ pid, log: nodePaths.log, monitor: node.monitor });
    }
    for (const { pid, log, monitor } of started)
      await waitUntil(`nats-server (log: ${log})`, pid, log, () =>
        natsHealthy(`http://127.0.0.1:${monitor}`),
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

/**
 * The nodes of the cluster asked for, or those chosen before; undefined for
 * one nats-server. INVALID_INPUT for a size JetStream cannot elect with, or a
 * change of node count once JetStream holds data.
 */
async function clusterOf(
  stateDir: string,
  asked: StartStackOptions['natsCluster'],
  ports: StackSettings['ports'],
  previous: StackSettings | undefined,
): Promise<NatsNodePorts[] | undefined> {
  if (asked === undefined) return previous?.natsCluster;
  const size = typeof asked === 'number' ? asked : asked.length;
  if (!(NATS_CLUSTER_SIZES as readonly number[]).includes(size))
    throw new UprollError(
      'INVALID_INPUT',
      `a local NATS cluster has ${NATS_CLUSTER_SIZES.join(' or ')} nodes (a majority must survive a node's loss), not ${size}`,
    );
  const before = previous ? natsNodesOf(previous).length : size;
  if (before !== size && (await runningNatsNodes(stateDir)).length > 0)
    throw new UprollError(
      'INVALID_INPUT',
      `the local stack in ${stateDir} runs ${before} nats-server${before === 1 ? '' : 's'}: ` +
        `\`uproll dev down\` first to start ${size}`,
    );
  if (before !== size && (await hasJetStreamData(stateDir)))
    throw new UprollError(
      'INVALID_INPUT',
      `the local stack in ${stateDir} runs ${before} nats-server${before === 1 ? '' : 's'} and JetStream holds data: ` +
        `to change to ${size}, \`uproll dev down\` and remove ${stackPaths(stateDir).nats.dir} (its streams are lost)`,
    );
  if (typeof asked !== 'number') return asked;
  return Array.from({ length: size }, (_, i) => ({
    nats: ports.nats + i,
    monitor: ports.natsMonitor + i,
    route: DEFAULT_ROUTE_PORT + i,
  }));
}

async function hasJetStreamData(stateDir: string): Promise<boolean> {
  const entries = await readdir(join(stackPaths(stateDir).nats.store, 'jetstream')).catch(() => []);
  return entries.length > 0;
}

/** Stops one component (to restart it with `startLocalStack`, which starts only what is missing). */
export async function stopStackComponent(stateDir: string, component: 'temporal' | 'nats'): Promise<boolean> {
  return component === 'temporal'
    ? stopByPidFile(stackPaths(stateDir).temporal.pid, 'temporal')
    : (await stopNatsNodes(stateDir)).some(Boolean);
}

/**
 * Stops one node of the local NATS cluster, SIGKILLed with `kill` (a crash,
 * for fault tests); `startLocalStack` starts it again. Returns whether it ran.
 */
export function stopNatsNode(
  stateDir: string,
  index: number,
  options: { kill?: boolean } = {},
): Promise<boolean> {
  return stopByPidFile(natsNodePaths(stateDir, index).pid, 'nats-server', options.kill ? 0 : undefined);
}

async function stopNatsNodes(stateDir: string): Promise<boolean[]> {
  const settings = await readSettings(stateDir);
  const count = settings ? natsNodesOf(settings).length : 1;
  return Promise.all(Array.from({ length: count }, (_, i) => stopNatsNode(stateDir, i)));
}

/** Stops only the processes `up` started, by their pid files. */
export async function stopLocalStack(stateDir: string): Promise<{ temporal: boolean; nats: boolean }> {
  const temporal = await stopByPidFile(stackPaths(stateDir).temporal.pid, 'temporal');
  const nats = (await stopNatsNodes(stateDir)).some(Boolean);
  return { temporal, nats };
}

export async function localStackStatus(stateDir: string): Promise<StackStatus> {
  const paths = stackPaths(stateDir);
  const settings = await readSettings(stateDir);
  const addresses = settings ? stackAddresses(settings) : { temporal: '-', nats: '-', natsMonitor: '-' };
  const temporalPid = await runningPid(paths.temporal.pid, 'temporal');
  const nodes = await Promise.all(
    (settings ? natsNodesOf(settings) : [undefined]).map(async (node, i) => {
      const pid = await runningPid(natsNodePaths(stateDir, i).pid, 'nats-server');
      return {
        running: pid !== undefined,
        pid,
        address: settings && node ? `${settings.host}:${node.nats}` : '-',
        monitor: node ? `http://127.0.0.1:${node.monitor}` : '-',
      };
    }),
  );
  return {
    stateDir,
    temporal: { running: temporalPid !== undefined, pid: temporalPid, address: addresses.temporal },
    nats: {
      running: nodes.every((node) => node.running),
      pid: nodes[0]?.pid,
      address: addresses.nats,
      monitor: addresses.natsMonitor,
      ...(settings?.natsCluster ? { nodes } : {}),
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
