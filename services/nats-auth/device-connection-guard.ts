import { readdir, readFile } from 'node:fs/promises';
import { connect, credsAuthenticator } from '@nats-io/transport-node';
import { z } from 'zod';
import { parseJson, type Clock } from '../../core/index.ts';
import { pushAccountJwt, type NatsClientTls } from './account-update.ts';
import { accountOf, natsIdentityPaths, requireNatsIdentity } from './deployment-identity.ts';
import { deviceUserKeys, revokeDeviceCredentials } from './device-credentials.ts';

// nats-server 2.9 limits connections per account and per server, never per user, and cannot close
// one connection on request (no kick): a shared limit would let one device lock every other out.
// So the services count each device's connections and revoke a device over its quota, which closes
// all of its connections and refuses it until it is provisioned again: the real agent holds one.

const MAX_CONNZ_BYTES = 16 * 1024 * 1024;
/** nats-server's `$SYS.REQ.ACCOUNT.<account>.CONNZ` answer, only what is counted. */
const connzSchema = z.object({
  data: z.object({
    total: z.int().nonnegative(),
    connections: z
      .array(z.object({ authorized_user: z.string().max(128).optional() }).loose())
      .max(100_000)
      .optional(),
  }),
});

export interface DeviceConnectionGuardOptions {
  stateDir: string;
  servers: string;
  /** How the server's TLS certificate is verified (and the client's own, for mTLS). */
  tls?: NatsClientTls;
  /** Connections one device may hold at once. */
  connectionsPerDevice: number;
  /** How often to count (default 5 s). */
  intervalMs?: number;
  clock: Clock;
  /** Told about each device revoked for holding too many connections. */
  onRevoked?: (deviceId: string, connections: number) => void;
  /** Told about a count that failed (the next one is tried all the same). */
  onError?: (err: unknown) => void;
}

/** Counts the connections of each user of the account, as the system user sees them. */
export async function connectionsByUser(
  stateDir: string,
  servers: string,
  tls?: NatsClientTls,
): Promise<Map<string, number>> {
  const identity = await requireNatsIdentity(stateDir);
  const nc = await connect({
    servers: servers.split(','),
    authenticator: credsAuthenticator(await readFile(natsIdentityPaths(stateDir).systemCreds)),
    name: 'uproll-connection-guard',
    reconnect: false,
    ...(tls ? { tls } : {}),
  });
  try {
    const counts = new Map<string, number>();
    const request = { auth: true, limit: 100_000 };
    const reply = await nc.request(`$SYS.REQ.ACCOUNT.${accountOf(identity)}.CONNZ`, JSON.stringify(request), {
      timeout: 10_000,
    });
    const connz = parseJson(connzSchema, reply.data, { maxBytes: MAX_CONNZ_BYTES, what: 'the NATS connz' });
    for (const { authorized_user: user } of connz.data.connections ?? [])
      if (user) counts.set(user, (counts.get(user) ?? 0) + 1);
    return counts;
  } finally {
    await nc.close();
  }
}

/** The devices with NATS credentials in the state directory, by user key. */
async function devicesByUserKey(stateDir: string): Promise<Map<string, string>> {
  const dir = natsIdentityPaths(stateDir).devices;
  const files = await readdir(dir).catch(() => []);
  const byKey = new Map<string, string>();
  for (const file of files.filter((name) => name.endsWith('.json'))) {
    const deviceId = file.slice(0, -'.json'.length);
    for (const key of await deviceUserKeys(stateDir, deviceId)) byKey.set(key, deviceId);
  }
  return byKey;
}

/** Revokes every device holding more connections than its quota; returns the ones revoked. */
export async function enforceDeviceConnections(options: DeviceConnectionGuardOptions): Promise<string[]> {
  const counts = await connectionsByUser(options.stateDir, options.servers, options.tls);
  const devices = await devicesByUserKey(options.stateDir);
  const perDevice = new Map<string, number>();
  for (const [key, count] of counts) {
    const deviceId = devices.get(key);
    if (deviceId) perDevice.set(deviceId, (perDevice.get(deviceId) ?? 0) + count);
  }
  const revoked: string[] = [];
  for (const [deviceId, count] of perDevice) {
    if (count <= options.connectionsPerDevice) continue;
    const { identity } = await revokeDeviceCredentials(options.stateDir, deviceId, options.clock);
    await pushAccountJwt(options.stateDir, identity, options.servers, { tls: options.tls });
    options.onRevoked?.(deviceId, count);
    revoked.push(deviceId);
  }
  return revoked;
}

/** Enforces the connection quota every `intervalMs` until stopped. */
export function startDeviceConnectionGuard(options: DeviceConnectionGuardOptions) {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  const tick = () => {
    running = enforceDeviceConnections(options)
      .catch((err: unknown) => options.onError?.(err))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, options.intervalMs ?? 5_000);
      });
  };
  tick();
  return {
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
