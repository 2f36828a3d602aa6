import { logFormatOption, serverLog, type ServerLog } from '../server-log.ts';
import { once } from 'node:events';
import { createPublicKey, randomUUID } from 'node:crypto';
import { UprollError } from '../../core/index.ts';
import type { KeyStore } from '../../keys/index.ts';
import { roleKeys, roleSigners } from '../../keys/index.ts';
import {
  API_ROLES,
  issueApiToken,
  DASHBOARD_DIST,
  FleetMetrics,
  fleetRoutes,
  managementRoutes,
  startApiServer,
  type ApiRole,
} from '../../services/api/index.ts';
import { DirectorRepository } from '../../services/director/index.ts';
import { ImageRepository } from '../../services/image-repo/index.ts';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Client } from '@temporalio/client';
import { EventLog, readPresence, RefusalSampler } from '../../services/nats/index.ts';
import { ensureDeploymentStorage } from '../deployment-storage.ts';
import { readDeviceViews } from '../../services/projections/index.ts';
import { deploymentDeviceQuotas } from '../../services/nats-auth/index.ts';
import { requireNamespace } from '../../services/temporal/index.ts';
import { portOption, stateDirOf, UsageError, type Command } from '../command.ts';
import {
  connectDeploymentNats,
  connectDeploymentTemporal,
  deploymentClient,
} from '../deployment-connections.ts';
import { deploymentOf, deploymentOptions, hasDeployment } from '../deployment.ts';
import { passphraseOptions, readPassphrase } from '../passphrase.ts';
import { directorDir, imageRepoDir, locationOptions, openKeyStore } from '../locations.ts';
import { systemClock } from '../system-clock.ts';
import { outboxOf } from '../audit.ts';
import { serverKeyPairOf, serverTlsOptions } from '../server-tls.ts';
import { taskQueueOf } from '../task-queue.ts';
import type { ServerKeyPair } from '../../services/tls/index.ts';

async function apiKey(store: KeyStore) {
  const [record] = await roleKeys(store, 'fleet', 'api');
  if (!record) throw new UprollError('UNKNOWN_KEY', `no API token key in ${store.dir}: run uproll keys init`);
  return record;
}

export const apiToken: Command = {
  name: 'api token',
  summary: 'Issue a short-lived signed token for one person and one role (security, release or viewer).',
  usage: 'uproll api token --role security|release|viewer --subject NAME [--ttl SECONDS] [--json]',
  options: {
    keystore: locationOptions.keystore,
    role: {
      type: 'string',
      description: 'security (key operations), release (publish, roll out) or viewer (read only)',
    },
    subject: { type: 'string', description: 'who the token is for (kept in the audit trail)' },
    ttl: { type: 'string', description: 'lifetime in seconds (default 900, at most 28800)' },
    ...passphraseOptions('', 'online key'),
  },
  async run({ values }, io) {
    const role = values['role'];
    const subject = values['subject'];
    if (!API_ROLES.includes(role as ApiRole) || typeof subject !== 'string') {
      throw new UsageError(`--role ${API_ROLES.join('|')} and --subject NAME are required`);
    }
    const store = openKeyStore(values, { onlineOnly: true });
    const key = await store.privateKey(
      (await apiKey(store)).keyId,
      await readPassphrase(values, '', 'online key'),
    );
    const token = await issueApiToken({
      subject,
      role: role as ApiRole,
      ttlSeconds: Number(values['ttl'] ?? 900),
      key,
      now: new Date(),
    });
    io.out(values.json ? JSON.stringify({ token }) : token);
    return 0;
  },
};

export const apiServe: Command = {
  name: 'api serve',
  summary: 'Serve the management API (keys, devices, releases) for people with tokens, until stopped.',
  usage:
    'uproll api serve [--host H] [--port N] [--tls-cert FILE --tls-key FILE | --tls-host NAME,... | --insecure] [--passphrase-env NAME] [--json]',
  details:
    'Refused calls and audit events go to the event log (uproll.evt.api.management) of the deployment\n' +
    '--temporal, --nats and --nats-seed-file (or $UPROLL_TEMPORAL, $UPROLL_NATS, $UPROLL_NATS_CREDS)\n' +
    'name, else of the local stack when there is one.\n' +
    '`uproll serve --only api` serves it against any deployment. HTTPS as `uproll serve` (--insecure: HTTP).',
  options: {
    ...locationOptions,
    ...deploymentOptions,
    host: { type: 'string', description: 'address to listen on (default 127.0.0.1)' },
    port: { type: 'string', description: 'port (default 18090)' },
    ...serverTlsOptions,
    ...passphraseOptions('', 'online key'),
    ...logFormatOption,
  },
  async run({ values }, io) {
    const passphrase = await readPassphrase(values, '', 'online key');
    const tls = await serverKeyPairOf(
      values,
      typeof values['host'] === 'string' ? values['host'] : '127.0.0.1',
    );
    const deployment = (await hasDeployment(values)) ? await deploymentOf(values) : undefined;
    const nc = deployment ? await connectDeploymentNats(deployment, 'uproll-api') : undefined;
    if (nc && deployment)
      await ensureDeploymentStorage(nc, deployment, await deploymentDeviceQuotas(stateDirOf(values)));
    const connection = deployment ? await connectDeploymentTemporal(deployment) : undefined;
    // Its rollouts start device updates there: a cluster without the namespace fails now, not on the first call.
    if (connection && deployment && !deployment.local)
      await requireNamespace(connection, {
        namespace: deployment.temporalNamespace,
        address: deployment.temporal,
      });
    const server = await startManagementApi({
      values,
      passphrase,
      log: serverLog(io, 'uproll api', values),
      tls,
      ...(nc ? { eventLog: new EventLog(nc), nc } : {}),
      ...(connection && deployment ? { temporal: deploymentClient(deployment, connection) } : {}),
    });
    io.out(
      values.json
        ? JSON.stringify({ url: server.url, dashboard: `${server.url}/dashboard/` })
        : `management API on ${server.url}/api/v1 (its OpenAPI document: /api/v1/openapi.json), dashboard on ${server.url}/dashboard/`,
    );
    await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
    await server.close();
    await connection?.close();
    await nc?.drain();
    return 0;
  },
};

/**
 * The management API over the key store and repositories the options name,
 * on `--host`/`--port` (default 127.0.0.1:18090). Refused calls are told on
 * stderr and, given an event log, appended to it. Changes are audit events
 * by the token's subject, kept in the state directory's outbox first (as the
 * CLI's), then sent to the event log when there is one.
 */
export async function startManagementApi(options: {
  values: Record<string, unknown>;
  passphrase: string;
  log: ServerLog;
  eventLog?: EventLog;
  /** The deployment's NATS: `GET /api/v1/devices` adds what the heartbeats said (last seen, apps). */
  nc?: NatsConnection;
  /** The deployment's Temporal: with NATS, the API runs rollouts too (`/api/v1/rollouts`). */
  temporal?: Client;
  /** At most one `api.call.refused` per caller in this window (default one minute). */
  refusalWindowMs?: number;
  /** HTTPS with this certificate; plain HTTP without. */
  tls?: ServerKeyPair;
}): Promise<{ url: string; close(): Promise<void> }> {
  const { values, passphrase, log, eventLog, nc, temporal } = options;
  // Refused calls are an attacker's to make: counted per caller (token subject, else address), not one event each.
  const refusals = eventLog
    ? new RefusalSampler({
        eventLog,
        now: systemClock,
        ...(options.refusalWindowMs ? { windowMs: options.refusalWindowMs } : {}),
        onError: (err) => log.warn({ err }, 'audit: refused calls not recorded'),
      })
    : undefined;
  const store = openKeyStore(values, { onlineOnly: true });
  const tokenKey = createPublicKey(await store.privateKey((await apiKey(store)).keyId, passphrase));
  const image = new ImageRepository(imageRepoDir(values));
  const director = new DirectorRepository(directorDir(values));
  const metrics = nc
    ? await FleetMetrics.start(nc, { now: systemClock, ...(temporal ? { temporal } : {}) })
    : undefined;
  // Rollouts, live views and the event log need the deployment's Temporal and NATS (`serve` has both).
  const fleet =
    nc && temporal && eventLog
      ? fleetRoutes({
          temporal,
          nc,
          eventLog,
          director,
          image,
          now: systemClock,
          taskQueue: taskQueueOf(values),
          ...(metrics ? { followed: metrics } : {}),
        })
      : undefined;
  const server = await startApiServer({
    tokenKey,
    now: systemClock,
    host: typeof values['host'] === 'string' ? values['host'] : '127.0.0.1',
    port: portOption(values, 'port') ?? 18090,
    ...(options.tls ? { tls: options.tls } : {}),
    routes: [
      ...managementRoutes({
        store,
        image,
        director,
        releaseSigners: async () => ({
          releases: await roleSigners(store, 'image', 'releases', passphrase),
          snapshot: await roleSigners(store, 'image', 'snapshot', passphrase),
          timestamp: await roleSigners(store, 'image', 'timestamp', passphrase),
        }),
        now: systemClock,
        ...(nc
          ? {
              presence: { of: (ids) => readPresence(nc, ids, { withApps: true }) },
              views: () => readDeviceViews(nc),
            }
          : {}),
      }),
      ...(fleet?.routes ?? []),
    ],
    ...(fleet ? { streams: fleet.streams } : {}),
    dashboardDir: DASHBOARD_DIST,
    ...(metrics ? { metrics } : {}),
    onChanged: async (event) => {
      const outbox = outboxOf(values);
      await outbox.add(randomUUID(), event);
      await (eventLog ? outbox.flush(eventLog) : Promise.reject(new Error('no event log'))).catch(() =>
        log.warn(
          { type: event.type, outbox: outbox.path },
          'audit event kept in the outbox until the event log is reachable',
        ),
      );
    },
    onInternalError: (err, call) => log.error({ err, method: call.method, path: call.path }, 'call failed'),
    onRefused: async (call) => {
      log.warn(
        { code: call.code, ...(call.subject ? { subject: call.subject, role: call.role } : {}) },
        `refused ${call.method} ${call.path}`,
      );
      await refusals?.record({
        aggregate: 'api',
        aggregateId: 'management',
        type: 'api.call.refused',
        source: call.subject ?? call.remote ?? 'unknown',
        data: { ...call },
      });
    },
  }).catch((err: unknown) => {
    metrics?.stop();
    throw err;
  });
  return {
    url: server.url,
    async close() {
      await server.close();
      metrics?.stop();
      await refusals?.close(); // what was counted and not told yet
    },
  };
}
