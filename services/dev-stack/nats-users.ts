import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { assertToken, deviceIdSchema, parseJson, UprollError } from '../../core/index.ts';
import { createNkeyIdentity, isUserPublicKey, publicKeyOfSeed, type NkeyIdentity } from '../../keys/index.ts';
import { withFileLock, writeFileAtomic } from '../fs/index.ts';
import { renderNatsServerConfig } from '../nats/server-config.ts';
import { requireSettings } from './settings.ts';
import { stackPaths } from './state-dir.ts';
import { runningPid } from './processes.ts';

const userKeySchema = z.string().refine(isUserPublicKey, 'must be an nkey user public key');
/** A device's NATS users: one key per bundle it was given, until it is revoked (older files name one key). */
const deviceUserSchema = z
  .object({
    deviceId: deviceIdSchema,
    publicKey: userKeySchema.optional(),
    publicKeys: z.array(userKeySchema).optional(),
  })
  .transform(({ deviceId, publicKey, publicKeys }) => ({
    deviceId,
    publicKeys: publicKeys ?? (publicKey ? [publicKey] : []),
  }));

/** The services' own NATS identity, created on first use (seed file mode 0600). */
export async function serviceIdentity(stateDir: string): Promise<NkeyIdentity> {
  const path = stackPaths(stateDir).nats.serviceSeed;
  const seed = (await readFile(path, 'utf8').catch(() => undefined))?.trim();
  if (seed) return { seed, publicKey: publicKeyOfSeed(seed) };
  const identity = createNkeyIdentity();
  await mkdir(stackPaths(stateDir).nats.dir, { recursive: true });
  await writeFileAtomic(path, `${identity.seed}\n`, { mode: 0o600 });
  return identity;
}

/** Whether to replace a device's NATS credentials or give it one more set, the old ones still valid. */
export interface NatsProvisioning {
  /** Keep the keys the device had (a re-provisioned device keeps connecting until revoked). Default: replace them. */
  keepExisting?: boolean;
}

/**
 * Adds (or re-keys) a device as a NATS user confined to its own subjects and
 * applies it to the running server. Returns the device's identity; only the
 * public key is kept here, the seed belongs to the device.
 */
export async function provisionNatsDevice(
  stateDir: string,
  deviceId: string,
  options: NatsProvisioning = {},
): Promise<NkeyIdentity> {
  const [identity] = await provisionNatsDevices(stateDir, [deviceId], options);
  return identity as NkeyIdentity;
}

/** Provisions several devices with one configuration reload; identities in the order given. */
export async function provisionNatsDevices(
  stateDir: string,
  deviceIds: readonly string[],
  options: NatsProvisioning = {},
): Promise<NkeyIdentity[]> {
  for (const deviceId of deviceIds) assertToken(deviceId, 'device id');
  const dir = stackPaths(stateDir).nats.devices;
  await mkdir(dir, { recursive: true });
  const identities = [];
  for (const deviceId of deviceIds) {
    const identity = createNkeyIdentity();
    const kept = options.keepExisting ? ((await readDeviceUser(dir, deviceId))?.publicKeys ?? []) : [];
    await writeFileAtomic(
      join(dir, `${deviceId}.json`),
      JSON.stringify({ deviceId, publicKeys: [...kept, identity.publicKey] }),
    );
    identities.push(identity);
  }
  await applyNatsConfig(stateDir);
  return identities;
}

/**
 * Removes every NATS user of a device and applies it to the running server,
 * which then closes the device's connections and refuses its credentials.
 * Returns how many keys were revoked; DEVICE_NOT_FOUND for a device without any.
 */
export async function revokeNatsDevice(stateDir: string, deviceId: string): Promise<number> {
  const dir = stackPaths(stateDir).nats.devices;
  const user = await readDeviceUser(dir, assertToken(deviceId, 'device id'));
  if (!user)
    throw new UprollError('DEVICE_NOT_FOUND', `device ${deviceId} has no NATS credentials in ${dir}`);
  await rm(join(dir, `${deviceId}.json`));
  await applyNatsConfig(stateDir);
  return user.publicKeys.length;
}

/**
 * Renders nats.conf from the settings and the device users, and reloads the
 * server when it runs. Serialized by a lock so concurrent provisioning never
 * loses a device.
 */
export async function applyNatsConfig(stateDir: string): Promise<void> {
  const paths = stackPaths(stateDir);
  await withFileLock(paths.nats.config, async () => {
    const settings = await requireSettings(stateDir);
    const service = await serviceIdentity(stateDir);
    const config = renderNatsServerConfig({
      serverName: 'uproll-dev',
      host: settings.host,
      port: settings.ports.nats,
      monitorPort: settings.ports.natsMonitor,
      storeDir: paths.nats.store,
      serviceKeys: [service.publicKey],
      devices: await readDeviceUsers(paths.nats.devices),
    });
    await writeFileAtomic(paths.nats.config, config);
    const pid = await runningPid(paths.nats.pid, 'nats-server');
    if (pid !== undefined) await reload(pid, `http://${settings.host}:${settings.ports.natsMonitor}`);
  });
}

/** Every NATS user of every device, as the server configuration lists them. */
async function readDeviceUsers(dir: string) {
  const names = await readdir(dir).catch(() => [] as string[]);
  const users = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    const user = await readDeviceUser(dir, name.slice(0, -'.json'.length));
    if (!user) continue;
    for (const publicKey of user.publicKeys) users.push({ deviceId: user.deviceId, publicKey });
  }
  return users;
}

async function readDeviceUser(dir: string, deviceId: string) {
  const path = join(dir, `${deviceId}.json`);
  const text = await readFile(path).catch(() => undefined);
  return text && parseJson(deviceUserSchema, text, { maxBytes: 64 * 1024, what: path });
}

/** SIGHUP makes nats-server reload its configuration; wait until it has. */
async function reload(pid: number, monitorUrl: string): Promise<void> {
  const before = await configLoadTime(monitorUrl);
  process.kill(pid, 'SIGHUP');
  const deadline = performance.now() + 10_000;
  while (performance.now() < deadline) {
    if ((await configLoadTime(monitorUrl)) !== before) return;
    await sleep(25);
  }
  throw new Error(`nats-server (pid ${pid}) did not reload its configuration within 10 s`);
}

async function configLoadTime(monitorUrl: string): Promise<string | undefined> {
  const response = await fetch(`${monitorUrl}/varz`).catch(() => undefined);
  if (!response?.ok) return undefined;
  const varz = (await response.json()) as { config_load_time?: string };
  return varz.config_load_time;
}
