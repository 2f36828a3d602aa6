import { connect, credsAuthenticator, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';

export interface NatsConnectOptions {
  /** `host:port` of the server(s). */
  servers: string | string[];
  /**
   * What authenticates this client (service or device): the text of a
   * `.creds` file (user JWT and seed, as `uproll` issues them), or a bare
   * nkey seed for a server that lists nkey users.
   */
  nkeySeed: string;
  /** Shown in the server's connection list. */
  name: string;
  /** Devices use their own inbox prefix: their permissions allow only that one. */
  inboxPrefix?: string;
  /** Keep trying when the server is not up yet instead of failing at once. */
  waitOnFirstConnect?: boolean;
  /** How long the first connection may take before it fails (default: the client's 20 s). */
  timeoutMs?: number;
  /** TLS (and mTLS with a client certificate) when the server requires it: PEM file paths. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

/**
 * The servers as a list: a comma-separated string (`$UPROLL_NATS`, a device
 * bundle's `servers`) is several, which the client would take as one URL.
 */
export function natsServerList(servers: string | readonly string[]): string[] {
  const list = typeof servers === 'string' ? servers.split(',') : servers;
  return list.map((server) => server.trim()).filter((server) => server.length > 0);
}

/** Connects with JWT (or nkey) authentication and reconnects forever once connected. */
export function connectToNats(options: NatsConnectOptions): Promise<NatsConnection> {
  return connect({
    servers: natsServerList(options.servers),
    name: options.name,
    authenticator: options.nkeySeed.includes('-----BEGIN NATS USER JWT-----')
      ? // Its blocks end in a newline, which a caller that trimmed the file's text took away.
        credsAuthenticator(new TextEncoder().encode(`${options.nkeySeed}\n`))
      : nkeyAuthenticator(new TextEncoder().encode(options.nkeySeed)),
    inboxPrefix: options.inboxPrefix,
    waitOnFirstConnect: options.waitOnFirstConnect ?? false,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    reconnectJitter: 500,
    // Otherwise every request (each JetStream publish, KV write, command) builds two
    // Error objects up front for their stack traces: ~6% of a rollout worker's CPU.
    // Failures keep their classes and messages (TimeoutError, RequestError).
    noAsyncTraces: true,
    ...(options.timeoutMs !== undefined ? { timeout: options.timeoutMs } : {}),
    ...(options.tls ? { tls: options.tls } : {}),
  });
}
