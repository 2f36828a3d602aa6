import { createServer as createHttpServer, type RequestListener, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Server } from 'node:net';
import { UprollError } from '../../core/index.ts';

/** A server's certificate (its chain after it) and private key, PEM. The key is secret: never log it. */
export interface ServerKeyPair {
  cert: string;
  key: string;
}

/**
 * An HTTPS server with `tls`, else (only when the operator asked for plain
 * text) an HTTP one, and the scheme its URLs take. TLS 1.2 at least.
 */
export function createWebServer(
  listener: RequestListener,
  tls: ServerKeyPair | undefined,
): { server: HttpServer | HttpsServer; scheme: 'http' | 'https' } {
  return tls
    ? {
        server: createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, listener),
        scheme: 'https',
      }
    : { server: createHttpServer(listener), scheme: 'http' };
}

/** A host as a URL names it: an IPv6 address in brackets. */
export function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * Listens on `host:port`; a port another process holds fails with
 * PORT_IN_USE naming what needed it (a second `uproll serve`, say).
 */
export function listenOn(server: Server, host: string, port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new UprollError(
              'PORT_IN_USE',
              `port ${port} on ${host} (${what}) is already in use: stop what holds it or choose another port`,
              { cause: err },
            )
          : err,
      ),
    );
    server.listen(port, host, () => resolve());
  });
}
