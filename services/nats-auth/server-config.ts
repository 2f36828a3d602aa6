/**
 * What a nats-server must know to trust a deployment: its operator, the
 * system account, and the accounts' JWTs (public: no seed is in any of them).
 */
export interface NatsServerAuth {
  operatorJwt: string;
  systemAccount: string;
  /** Account public key -> its current JWT. */
  accounts: Readonly<Record<string, string>>;
}

/** Client connections over TLS only (PEM paths); `verifyClients` asks for a certificate from `caFile` too (mTLS). */
export interface NatsServerTls {
  certFile: string;
  keyFile: string;
  caFile?: string;
  verifyClients?: boolean;
}

export interface NatsServerConfigInput {
  serverName: string;
  host: string;
  port: number;
  /**
   * HTTP monitoring port (`/healthz`, `/varz`), always on loopback: its pages
   * name every connected device, for any local user to read. None when unset.
   */
  monitorPort?: number;
  tls?: NatsServerTls;
  /** JetStream file storage directory. */
  storeDir: string;
  /** Where the server's account resolver keeps the account JWTs it was sent. */
  resolverDir: string;
  auth: NatsServerAuth;
  /** A JetStream cluster this server is a node of: routes on loopback (a local cluster). */
  cluster?: NatsClusterRoutes;
}

/** The route port of this node and those of every node (this one included: nats-server skips itself). */
export interface NatsClusterRoutes {
  name: string;
  routePort: number;
  routePorts: readonly number[];
}

/**
 * The authentication part of a nats-server configuration: trust the
 * operator, keep accounts in a `full` resolver (account updates pushed by
 * the system account are applied at once and survive restarts), preloaded
 * with the accounts as they are now. A preload older than what the resolver
 * stored is ignored, so an old copy of this file never undoes a revocation.
 */
export function natsAuthSettings(auth: NatsServerAuth, resolverDir: string) {
  return {
    operator: auth.operatorJwt,
    system_account: auth.systemAccount,
    resolver: { type: 'full', dir: resolverDir, allow_delete: false, interval: '2m' },
    resolver_preload: { ...auth.accounts },
  };
}

/**
 * Renders a whole nats-server configuration: client and monitoring ports,
 * JetStream, and the deployment's authentication. nats-server reads JSON as
 * configuration syntax, so rendering through JSON.stringify leaves no
 * quoting to get wrong.
 */
export function renderNatsServerConfig(input: NatsServerConfigInput): string {
  const config = {
    server_name: input.serverName,
    host: input.host,
    port: input.port,
    ...(input.monitorPort !== undefined ? { http: `127.0.0.1:${input.monitorPort}` } : {}),
    ...(input.tls ? { tls: natsTlsSettings(input.tls) } : {}),
    max_payload: 1024 * 1024,
    jetstream: {
      store_dir: input.storeDir,
      max_memory_store: 256 * 1024 * 1024,
      max_file_store: 10 * 1024 ** 3,
    },
    ...natsAuthSettings(input.auth, input.resolverDir),
    ...(input.cluster ? { cluster: natsClusterSettings(input.cluster) } : {}),
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/**
 * Renders only the authentication settings (and the `tls` block, when given),
 * one `key: value` per line, for an operator's own configuration to `include`
 * (which must enable JetStream).
 */
export function renderNatsAuthInclude(
  auth: NatsServerAuth,
  resolverDir: string,
  tls?: NatsServerTls,
): string {
  const settings = { ...(tls ? { tls: natsTlsSettings(tls) } : {}), ...natsAuthSettings(auth, resolverDir) };
  return `${Object.entries(settings)
    .map(([key, value]) => `${key}: ${JSON.stringify(value, null, 2)}`)
    .join('\n')}\n`;
}

/** nats-server's `cluster` block: routes between the nodes, on loopback only. */
function natsClusterSettings(cluster: NatsClusterRoutes) {
  return {
    name: cluster.name,
    host: '127.0.0.1',
    port: cluster.routePort,
    routes: cluster.routePorts.map((port) => `nats-route://127.0.0.1:${port}`),
  };
}

/** nats-server's `tls` block: a client that does not speak TLS is refused before it can authenticate. */
function natsTlsSettings(tls: NatsServerTls) {
  return {
    cert_file: tls.certFile,
    key_file: tls.keyFile,
    ...(tls.caFile !== undefined ? { ca_file: tls.caFile } : {}),
    verify: tls.verifyClients ?? false,
    timeout: 5,
  };
}
