import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Client } from '@temporalio/client';
import {
  DASHBOARD_DIST,
  FleetMetrics,
  fleetRoutes,
  issueApiToken,
  startApiServer,
} from '../../services/api/index.ts';
import type { DirectorRepository } from '../../services/director/index.ts';
import type { ImageRepository } from '../../services/image-repo/index.ts';
import type { EventLog } from '../../services/nats/index.ts';
import { systemClock } from '../system-clock.ts';

/**
 * The management API and its dashboard over the demo's own fleet, on a free
 * port of 127.0.0.1 (plain HTTP: the demo's keys live only as long as it does), with
 * a token of a release manager signed by a key made for this run.
 */
export async function startDemoDashboard(services: {
  nc: NatsConnection;
  client: Client;
  eventLog: EventLog;
  director: DirectorRepository;
  image: ImageRepository;
}): Promise<{ url: string; token: string; close(): Promise<void> }> {
  const tokenKeys = generateKeyPairSync('ed25519');
  const metrics = await FleetMetrics.start(services.nc, { now: systemClock, temporal: services.client });
  const fleet = fleetRoutes({
    temporal: services.client,
    now: systemClock,
    followed: metrics,
    ...services,
  });
  const server = await startApiServer({
    ...fleet,
    tokenKey: tokenKeys.publicKey,
    now: systemClock,
    onChanged: (event) => services.eventLog.append(event, { msgId: randomUUID() }).then(() => undefined),
    dashboardDir: DASHBOARD_DIST,
    metrics,
  }).catch((err: unknown) => {
    metrics.stop();
    throw err;
  });
  const token = await issueApiToken({
    subject: 'demo release manager',
    role: 'release',
    ttlSeconds: 8 * 60 * 60,
    key: tokenKeys.privateKey,
    now: systemClock(),
  });
  return {
    url: `${server.url}/dashboard/`,
    token,
    async close() {
      await server.close();
      metrics.stop();
    },
  };
}
