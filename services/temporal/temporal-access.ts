/**
 * How a process reaches a deployment's Temporal beyond its address: TLS
 * (server verification, a client certificate for mTLS) and an API key. The
 * local stack's dev server has none of it. Secret: `clientCertPair.key` and
 * `apiKey`; never print or log them.
 */
export interface TemporalAccess {
  /** TLS to the frontend; absent: plain text. */
  tls?: {
    /** A private CA the frontend's certificate is verified with; absent: the system's CAs. */
    serverRootCACertificate?: Uint8Array;
    /** mTLS: the certificate and key this process presents. */
    clientCertPair?: { crt: Uint8Array; key: Uint8Array };
    /** The name the frontend's certificate is checked against (and sent as SNI), if not the address's host. */
    serverNameOverride?: string;
  };
  /** Sent as `Authorization: Bearer …` on every call (Temporal Cloud API keys). */
  apiKey?: string;
}

/** No TLS, no API key: the local stack's dev server. */
export const PLAIN_TEMPORAL_ACCESS: TemporalAccess = {};

/**
 * The options `Connection.connect` (client) and `NativeConnection.connect`
 * (worker) take for `address` with `access`. TLS is stated either way: the
 * SDK would otherwise turn it on by itself for an API key.
 */
export function temporalConnectOptions(address: string, access: TemporalAccess) {
  return {
    address,
    tls: access.tls ?? false,
    ...(access.apiKey !== undefined ? { apiKey: access.apiKey } : {}),
  };
}
