import { logFormatOption, serverLog, temporalSink, type ServerLog } from '../server-log.ts';
import { DirectorRepository } from '../../services/director/index.ts';
import { startRepositoryServer } from '../../services/image-repo/index.ts';
import { ensureFreshnessSchedule, installTemporalRuntime } from '../../services/temporal/index.ts';
import { outboxOf } from '../audit.ts';
import { portOption, stateDirOf, UsageError, type Command } from '../command.ts';
import { startFleetServices } from '../fleet-services.ts';
import { deploymentOf, deploymentOptions, type Deployment } from '../deployment.ts';
import { directorDir, imageRepoDir, locationOptions } from '../locations.ts';
import { workerKeyServices } from '../worker-keys.ts';
import { passphraseOptions, readPassphrase } from '../passphrase.ts';
import { listenForStopSignals } from '../stop-signals.ts';
import { startManagementApi } from './api.ts';
import { taskQueueOf, taskQueueOption } from '../task-queue.ts';
import { serverKeyPairOf, serverTlsOptions } from '../server-tls.ts';

/** What `uproll serve` can run, each switchable so a deployment can split them across machines. */
export const SERVE_PARTS = ['image', 'director', 'api', 'bridge', 'projector', 'reports', 'worker'] as const;
export type ServePart = (typeof SERVE_PARTS)[number];

const PART_HELP: Record<ServePart, string> = {
  image: 'the Image repository over HTTPS (metadata and targets; --image-port, default 18080)',
  director: "the Director over HTTPS (each device's metadata; --director-port, default 18081)",
  api: 'the management API (--api-port, default 18090; needs the online key passphrase)',
  bridge: 'the telemetry bridge (device reports to their updates) and device presence',
  projector: 'the KV projections (rollouts, devices, fleet versions) from the event log',
  reports: "the Director's report listener (verifies signed version reports)",
  worker: 'the rollout worker and the metadata freshness job (needs the online key passphrase)',
};
/** Parts that talk to Temporal and NATS; the HTTP servers need neither. */
const FLEET_PARTS: readonly ServePart[] = ['bridge', 'projector', 'reports', 'worker'];

export const serve: Command = {
  name: 'serve',
  summary: 'Run the Uproll services against a Temporal and a NATS, until SIGTERM or SIGINT.',
  usage:
    'uproll serve [--only PART,...] [--temporal HOST:PORT --nats URL --nats-seed-file FILE] [--task-queue NAME] [--host H] [--passphrase-env NAME] [--json]',
  details: [
    'Parts (all by default):',
    ...SERVE_PARTS.map((part) => `  ${part.padEnd(10)} ${PART_HELP[part]}`),
    '',
    'Without --temporal, --nats and --nats-seed-file (or $UPROLL_TEMPORAL, $UPROLL_NATS and',
    '$UPROLL_NATS_CREDS, as every command that reaches the deployment takes them) it runs on the',
    "local stack of --state-dir (`uproll dev up`). --nats-seed-file names the services user's",
    'credentials: the .creds file (mode 0600) that `uproll nats init` writes, or an nkey seed for a',
    'server that lists nkey users. A server that does not answer fails with TEMPORAL_UNREACHABLE or',
    'NATS_UNREACHABLE. --temporal-namespace, --temporal-tls, --temporal-ca-file, --temporal-cert-file and',
    "--temporal-key-file, --temporal-server-name and --temporal-api-key-file say how to reach a cluster's",
    'Temporal (--deployment-file: a JSON file of all these settings); a namespace or search attribute it',
    'lacks stops serve at start with TEMPORAL_NOT_READY, naming the command that creates it. Several',
    'processes may run the same parts: the worker shares the task queue, the consumers are durable.',
    'Deployments that share a Temporal namespace each take a --task-queue of their own (and give it to\n' +
      'the commands that start rollouts, or set $UPROLL_TASK_QUEUE for all of them).',
    'The Image repository, the Director and the API speak HTTPS: with --tls-cert and --tls-key, else',
    "with a certificate for --host, loopback and --tls-host from the deployment's server CA",
    '(<state-dir>/tls/ca.crt, which device bundles carry). --insecure serves plain HTTP (development only).',
    'Prints one line (JSON with --json) once every part is up; stops cleanly on the first signal.',
  ].join('\n'),
  options: {
    ...locationOptions,
    only: { type: 'string', description: `parts to run, comma-separated (${SERVE_PARTS.join(',')})` },
    ...deploymentOptions,
    host: { type: 'string', description: 'address the HTTP parts listen on (default 127.0.0.1)' },
    'image-port': { type: 'string', description: 'port of the Image repository (default 18080)' },
    'director-port': { type: 'string', description: 'port of the Director (default 18081)' },
    'api-port': { type: 'string', description: 'port of the management API (default 18090)' },
    ...serverTlsOptions,
    ...logFormatOption,
    ...taskQueueOption,
    ...passphraseOptions('', 'online key'),
  },
  async run({ values }, io) {
    const log = serverLog(io, 'uproll serve', values);
    const parts = partsOf(values['only']);
    taskQueueOf(values); // a bad name is refused before anything starts
    // Listening from the start: a signal during startup stops serve once it is up, never half-way.
    const stop = listenForStopSignals(log);
    const needsKeys = parts.has('api') || parts.has('worker');
    const passphrase = needsKeys ? await readPassphrase(values, '', 'online key') : undefined;
    const deployment = [...parts].some((part) => FLEET_PARTS.includes(part))
      ? await deploymentOf(values)
      : undefined;
    const running = await startParts(values, log, parts, { passphrase, deployment });
    io.out(
      values.json
        ? JSON.stringify({ ready: true, pid: process.pid, ...running.info })
        : `uproll serve: ${[...parts].join(', ')} ready${Object.entries(running.info.urls)
            .map(([part, url]) => `\n  ${part.padEnd(9)} ${url}`)
            .join('')}`,
    );
    await stop.requested;
    await running.close();
    stop.release();
    log.info('stopped');
    return 0;
  },
};

function partsOf(only: unknown): Set<ServePart> {
  if (typeof only !== 'string') return new Set(SERVE_PARTS);
  const names = only
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = names.filter((name) => !(SERVE_PARTS as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0)
    throw new UsageError(
      `--only takes parts among ${SERVE_PARTS.join(', ')}; not ${unknown.join(', ') || '""'}`,
    );
  return new Set(names as ServePart[]);
}

interface RunningParts {
  info: {
    parts: ServePart[];
    urls: Partial<Record<ServePart, string>>;
    temporal?: string;
    temporalNamespace?: string;
    nats?: string;
    taskQueue?: string;
  };
  close(): Promise<void>;
}

/** Starts the parts in turn; when one fails to start, those already up are stopped again. */
async function startParts(
  values: Record<string, unknown>,
  log: ServerLog,
  parts: Set<ServePart>,
  { passphrase, deployment }: { passphrase?: string; deployment?: Deployment },
): Promise<RunningParts> {
  const closers: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const closer of closers.splice(0).reverse()) await closer().catch(() => {});
  };
  const info: RunningParts['info'] = { parts: [...parts], urls: {} };
  const host = typeof values['host'] === 'string' ? values['host'] : '127.0.0.1';
  const tls =
    parts.has('image') || parts.has('director') || parts.has('api')
      ? await serverKeyPairOf(values, host)
      : undefined;
  try {
    if (parts.has('image')) {
      const server = await startRepositoryServer({
        dir: imageRepoDir(values),
        host,
        port: portOption(values, 'image-port') ?? 18080,
        tls,
      });
      closers.push(() => server.close());
      info.urls.image = server.url;
    }
    if (parts.has('director')) {
      const server = await startRepositoryServer({
        dir: directorDir(values),
        areas: ['devices'],
        host,
        port: portOption(values, 'director-port') ?? 18081,
        tls,
      });
      closers.push(() => server.close());
      info.urls.director = server.url;
    }
    if (deployment) {
      installTemporalRuntime('WARN', temporalSink(log));
      const services = await startFleetServices({
        stateDir: stateDirOf(values),
        deployment,
        onDropped: (reason) => log.warn({ reason }, 'telemetry dropped'),
        onWarning: (message) => log.warn(message),
        bridge: parts.has('bridge'),
        projector: parts.has('projector'),
        ...(parts.has('reports') ? { director: new DirectorRepository(directorDir(values)) } : {}),
        ...(parts.has('worker') ? await workerPart(values, passphrase!) : {}),
      });
      closers.push(() => services.close());
      // What operators did while the event log was out of reach reaches it now.
      const sent = await outboxOf(values).flush(services.eventLog);
      if (sent > 0)
        log.notice({ events: sent, outbox: outboxOf(values).path }, 'audit events sent to the event log');
      if (parts.has('worker')) {
        await services.startWorker();
        await ensureFreshnessSchedule(services.client, { taskQueue: taskQueueOf(values) });
      }
      Object.assign(info, {
        temporal: deployment.temporal,
        temporalNamespace: deployment.temporalNamespace,
        nats: deployment.nats,
        ...(parts.has('worker') ? { taskQueue: taskQueueOf(values) } : {}),
      });
      if (parts.has('api')) await startApi(services.eventLog, services.nc, services.client);
    } else if (parts.has('api')) {
      await startApi(undefined);
    }
    return { info, close };
  } catch (err) {
    await close();
    throw err;
  }

  async function startApi(
    eventLog: Parameters<typeof startManagementApi>[0]['eventLog'],
    nc?: Parameters<typeof startManagementApi>[0]['nc'],
    temporal?: Parameters<typeof startManagementApi>[0]['temporal'],
  ) {
    const api = await startManagementApi({
      values: { ...values, host, port: values['api-port'] },
      passphrase: passphrase!,
      log,
      tls,
      ...(eventLog ? { eventLog } : {}),
      ...(nc ? { nc } : {}),
      ...(temporal ? { temporal } : {}),
    });
    closers.push(() => api.close());
    info.urls.api = `${api.url}/api/v1`;
  }
}

/** What the rollout worker signs with; the report listener is a part of its own (`reports`). */
async function workerPart(values: Record<string, unknown>, passphrase: string) {
  const { keepMetadataFresh, releases } = await workerKeyServices(values, passphrase);
  return { keepMetadataFresh, releases, taskQueue: taskQueueOf(values) };
}
