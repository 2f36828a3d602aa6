import { mkdir, readFile } from 'node:fs/promises';
import { isUprollError, UprollError, type Clock } from '../../core/index.ts';
import { withFileLock, writeFileAtomic } from '../../adapters/fs/index.ts';
import {
  initNatsIdentity,
  issueDeviceCredentials,
  natsIdentityPaths,
  natsServerAuthOf,
  ownNatsClientTls,
  pushAccountJwt,
  readOwnNatsTls,
  readNatsIdentity,
  renderNatsServerConfig,
  requireNatsIdentity,
  revokeDeviceCredentials,
  type NatsIdentity,
  type NatsUserCredentials,
} from '../nats-auth/index.ts';
import {
  clientTlsPaths,
  ensureClientTls,
  ensureServerTls,
  serverTlsPaths,
  type ServerTlsFiles,
} from '../tls/index.ts';
import { natsNodesOf, readSettings, requireSettings, stackAddresses } from './settings.ts';
import { natsNodePaths } from './state-dir.ts';
import { runningPid } from './processes.ts';

// The deployment's NATS, wherever it runs: the operator's own nats-server (`uproll nats init
// --url`), or the local stack's. Both trust the same kind of identity (services/nats), so adding a
// device never touches a server; only a revocation has to reach it.

/**
 * The text of the services user's `.creds` file (secret: never log it), for
 * the local stack; STACK_NOT_RUNNING before `uproll dev up` created it.
 */
export async function serviceCredentials(stateDir: string): Promise<string> {
  if (!(await readNatsIdentity(stateDir)))
    throw new UprollError(
      'STACK_NOT_RUNNING',
      `no NATS identity for a local stack in ${stateDir}: run \`uproll dev up\``,
    );
  return readFile(natsIdentityPaths(stateDir).servicesCreds, 'utf8');
}

/**
 * Where devices and services reach the deployment's NATS: the URL given to
 * `uproll nats init`, else the local stack's address; undefined for neither.
 */
export async function natsServersOf(stateDir: string, identity?: NatsIdentity): Promise<string | undefined> {
  const known = identity ?? (await readNatsIdentity(stateDir));
  if (known?.servers) return known.servers;
  const settings = await readSettings(stateDir);
  return settings && stackAddresses(settings).nats;
}

/** Whether to replace a device's NATS credentials or give it one more set, the old ones still valid. */
export interface NatsProvisioning {
  clock: Clock;
  /** Keep the keys the device had (a re-provisioned device keeps connecting until revoked). Default: replace them. */
  keepExisting?: boolean;
}

/** Creates (or re-keys) a device's NATS user, confined to its own subjects. */
export async function provisionNatsDevice(
  stateDir: string,
  deviceId: string,
  options: NatsProvisioning,
): Promise<NatsUserCredentials> {
  const [credentials] = await provisionNatsDevices(stateDir, [deviceId], options);
  return credentials!;
}

/** Provisions several devices; credentials in the order given. Keys replaced are revoked on the server. */
export async function provisionNatsDevices(
  stateDir: string,
  deviceIds: readonly string[],
  options: NatsProvisioning,
): Promise<NatsUserCredentials[]> {
  const { credentials, revoked } = await issueDeviceCredentials(stateDir, deviceIds, options);
  if (revoked > 0) await sendAccountUpdate(stateDir);
  return credentials;
}

/**
 * Revokes every NATS user of a device: the server closes the device's
 * connections and refuses its credentials from then on. Returns how many
 * keys were revoked, and the NATS_UPDATE_FAILED error when the server was
 * not told (the revocation is recorded all the same); DEVICE_NOT_FOUND for
 * a device without any.
 */
export async function revokeNatsDevice(
  stateDir: string,
  deviceId: string,
  clock: Clock,
): Promise<{ keys: number; notSent?: UprollError }> {
  const { keys } = await revokeDeviceCredentials(stateDir, deviceId, clock);
  try {
    await sendAccountUpdate(stateDir);
    return { keys };
  } catch (err) {
    if (!isUprollError(err) || err.code !== 'NATS_UPDATE_FAILED') throw err;
    const notSent = new UprollError(
      'NATS_UPDATE_FAILED',
      `${deviceId}'s ${keys} ${keys === 1 ? 'key is' : 'keys are'} revoked and recorded, but ${err.message}; \`uproll nats push\` sends it again`,
      { cause: err },
    );
    return { keys, notSent };
  }
}

/**
 * Sends the current account JWT to the deployment's NATS. The operator's
 * server must take it (NATS_UPDATE_FAILED otherwise: the revocation is
 * recorded, `uproll nats push` sends it again). The local stack's config is
 * rewritten, and a running local server is sent it too.
 */
export async function sendAccountUpdate(stateDir: string): Promise<void> {
  const identity = await requireNatsIdentity(stateDir);
  if (identity.servers)
    return pushAccountJwt(stateDir, identity, identity.servers, { tls: await ownNatsClientTls(stateDir) });
  const settings = await readSettings(stateDir);
  if (!settings) return;
  await writeLocalNatsConfig(stateDir, identity);
  if ((await runningNatsNodes(stateDir)).length > 0)
    await pushAccountJwt(stateDir, identity, stackAddresses(settings).nats, {
      tls: await localNatsTls(stateDir),
    });
}

/**
 * Creates the NATS identity (and, unless the stack is `--insecure`, its
 * server certificate) on first use and writes the local stack's nats.conf.
 */
export async function applyNatsConfig(
  stateDir: string,
  clock: Clock,
  mtls?: { fleetCaFile: string },
): Promise<void> {
  const { identity } = await initNatsIdentity(stateDir, { clock });
  const settings = await requireSettings(stateDir);
  if (settings.tls)
    await ensureServerTls(stateDir, { hosts: [settings.host, ...settings.tlsHosts], now: clock() });
  if (settings.tls && settings.mtls && mtls) await ensureClientTls(stateDir, { ...mtls, now: clock() });
  await writeLocalNatsConfig(stateDir, identity);
}

/** The indexes of the local stack's nats-servers that run (every node of a cluster that does). */
export async function runningNatsNodes(stateDir: string): Promise<number[]> {
  const settings = await readSettings(stateDir);
  const nodes = settings ? natsNodesOf(settings) : [undefined];
  const running = await Promise.all(
    nodes.map(
      async (_, i) => (await runningPid(natsNodePaths(stateDir, i).pid, 'nats-server')) !== undefined,
    ),
  );
  return nodes.map((_, i) => i).filter((i) => running[i]);
}

/** Writes the nats.conf of every node (one, or each of a cluster's), under the first one's lock. */
async function writeLocalNatsConfig(stateDir: string, identity: NatsIdentity): Promise<void> {
  await withFileLock(natsNodePaths(stateDir, 0).config, async () => {
    const settings = await requireSettings(stateDir);
    const nodes = natsNodesOf(settings);
    for (const [i, node] of nodes.entries()) {
      const paths = natsNodePaths(stateDir, i);
      const config = renderNatsServerConfig({
        serverName: settings.natsCluster ? `uproll-dev-${i}` : 'uproll-dev',
        host: settings.host,
        port: node.nats,
        monitorPort: node.monitor,
        storeDir: paths.store,
        resolverDir: paths.resolver,
        auth: natsServerAuthOf(identity),
        ...(settings.tls ? { tls: serverTlsOf(stateDir, settings.mtls) } : {}),
        ...(settings.natsCluster
          ? {
              cluster: {
                name: 'uproll-dev',
                routePort: node.route,
                routePorts: nodes.map(({ route }) => route),
              },
            }
          : {}),
      });
      await mkdir(paths.dir, { recursive: true });
      await writeFileAtomic(paths.config, config);
    }
  });
}

/** The server certificate `startLocalStack` issued (`ensureServerTls`). */
function serverTlsOf(stateDir: string, mtls: boolean): ServerTlsFiles & { verifyClients: boolean } {
  const paths = serverTlsPaths(stateDir);
  // With mTLS, ca_file is whom clients' certificates may come from (fleet CA and server CA).
  const caFile = mtls ? clientTlsPaths(stateDir).clientsCa : paths.caCertificate;
  return { caFile, certFile: paths.certificate, keyFile: paths.key, verifyClients: mtls };
}

/**
 * What a client of the local stack's NATS verifies it with: the CA of its
 * server certificate, or undefined for a stack started `--insecure`.
 */
export async function localNatsTls(
  stateDir: string,
): Promise<{ caFile: string; certFile?: string; keyFile?: string } | undefined> {
  const settings = await readSettings(stateDir);
  if (!settings?.tls) return undefined;
  const caFile = serverTlsPaths(stateDir).caCertificate;
  if (!settings.mtls) return { caFile };
  // The services' own client certificate: never a device's.
  const client = clientTlsPaths(stateDir);
  return { caFile, certFile: client.servicesCertificate, keyFile: client.servicesKey };
}

/**
 * Whether devices reach the deployment's NATS over TLS: the operator's own
 * server unless `uproll nats config --insecure` wrote its configuration, else
 * the local stack unless it runs `--insecure`.
 */
export async function deploymentNatsTls(stateDir: string): Promise<boolean> {
  const identity = await readNatsIdentity(stateDir);
  if (identity?.servers) return (await readOwnNatsTls(stateDir))?.tls ?? false;
  return (await localNatsTls(stateDir)) !== undefined;
}

/** Whether the local stack's NATS asks devices for their certificate (the bundle then says `mtls`). */
export async function localNatsMtls(stateDir: string): Promise<boolean> {
  const settings = await readSettings(stateDir);
  return (settings?.tls && settings.mtls) ?? false;
}
