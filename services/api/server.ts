import type { KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:net';
import { createWebServer, urlHost, type ServerKeyPair } from '../tls/index.ts';
import {
  isUprollError,
  UprollError,
  type Clock,
  type DomainEvent,
  type UprollErrorCode,
} from '../../core/index.ts';
import { verifyApiToken, type ApiCaller, type ApiRole } from './tokens.ts';

/** One endpoint of the management API and the roles allowed to call it. */
export interface ApiRoute {
  method: 'GET' | 'POST';
  path: string;
  roles: readonly ApiRole[];
  /** Byte cap on the request body (POST). */
  maxBodyBytes?: number;
  /** A route that changes state tells `record` what it changed (nothing, when the call changed nothing). */
  handle(request: {
    caller: ApiCaller;
    body: Uint8Array;
    record: (change: ApiChange) => void;
  }): Promise<unknown>;
}

/** What a call changed, for the audit trail; the server adds when and who (the token's subject, as `by`). */
export type ApiChange = Omit<DomainEvent, 'at' | 'data'> & {
  data: Record<string, unknown> & { summary: string };
};

/** A change made through the API: `data.by` is the verified token's subject. */
export type ApiChangeEvent = DomainEvent<string, ApiChange['data'] & { by: string }>;

/** A refused call, for the audit trail (never the token itself). */
export interface RefusedCall {
  method: string;
  path: string;
  code: UprollErrorCode;
  subject?: string;
  role?: ApiRole;
  /** The caller's address, as the server's socket sees it. */
  remote?: string;
}

const STATUS: Partial<Record<UprollErrorCode, number>> = {
  UNAUTHORIZED: 401,
  TOKEN_EXPIRED: 401,
  FORBIDDEN: 403,
  INVALID_INPUT: 400,
  INPUT_TOO_LARGE: 413,
  INVALID_TARGET_PATH: 400,
  UNKNOWN_KEY: 404,
  TARGET_EXISTS: 409,
  REVISION_EXISTS: 409,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
};

/** The route for `method path`: ROUTE_NOT_FOUND when no route has the path, METHOD_NOT_ALLOWED when none has it with this method. */
function findRoute(routes: readonly ApiRoute[], method: string, path: string): ApiRoute {
  const route = routes.find((r) => r.path === path && r.method === method);
  if (route) return route;
  const allowed = allowedMethods(routes, path);
  if (allowed.length === 0) throw new UprollError('ROUTE_NOT_FOUND', `no ${path} in this API`);
  throw new UprollError('METHOD_NOT_ALLOWED', `${path} answers ${allowed.join(' and ')}, not ${method}`);
}

function allowedMethods(routes: readonly ApiRoute[], path: string): string[] {
  return routes.filter((r) => r.path === path).map((r) => r.method);
}

/**
 * The management API: JSON over HTTP, each call authenticated by a short-lived
 * signed token and allowed by role. Errors are problem documents
 * (RFC 9457) carrying the stable code; every refused call is reported to
 * `onRefused`. Devices hold no tokens and so have no access.
 */
export async function startApiServer(options: {
  routes: readonly ApiRoute[];
  tokenKey: KeyObject;
  onRefused?: (call: RefusedCall) => Promise<void> | void;
  /**
   * Takes each change a call made, before the call is answered: the audit
   * trail has every change made through the API, with who made it.
   */
  onChanged: (event: ApiChangeEvent) => Promise<void>;
  host?: string;
  port?: number;
  /** The reference time of token expiry. */
  now: Clock;
  /** Serve HTTPS with this certificate; plain HTTP without (development only). */
  tls?: ServerKeyPair;
}): Promise<{ url: string; close(): Promise<void> }> {
  const { server, scheme } = createWebServer((request, response) => {
    void handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  }, options.tls);

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    let caller: ApiCaller | undefined;
    try {
      const header = request.headers.authorization ?? '';
      if (!header.startsWith('Bearer '))
        throw new UprollError('UNAUTHORIZED', 'send a token as Authorization: Bearer <token>');
      caller = await verifyApiToken(header.slice(7), options.tokenKey, options.now());
      // Only a caller with a valid token learns which routes exist.
      const route = findRoute(options.routes, request.method ?? '', path);
      if (!route.roles.includes(caller.role)) {
        throw new UprollError(
          'FORBIDDEN',
          `role ${caller.role} may not ${request.method} ${path}; it needs ${route.roles.join(' or ')}`,
        );
      }
      const body =
        route.method === 'POST' ? await readBody(request, route.maxBodyBytes ?? 64 * 1024) : new Uint8Array();
      const changes: ApiChange[] = [];
      const result = await route.handle({ caller, body, record: (change) => void changes.push(change) });
      for (const change of changes) {
        const at = options.now().toISOString();
        await options.onChanged({ ...change, at, data: { ...change.data, by: caller.subject } });
      }
      send(response, 200, result);
    } catch (err) {
      if (isUprollError(err) && err.code === 'METHOD_NOT_ALLOWED')
        response.setHeader('allow', allowedMethods(options.routes, path).join(', '));
      const code: UprollErrorCode = isUprollError(err) ? err.code : 'INVALID_INPUT';
      const status = isUprollError(err) ? (STATUS[code] ?? 422) : 500;
      if (status === 401 || status === 403) {
        await options.onRefused?.({
          method: request.method ?? '',
          path,
          code,
          ...(caller ? { subject: caller.subject, role: caller.role } : {}),
          ...(request.socket.remoteAddress ? { remote: request.socket.remoteAddress } : {}),
        });
      }
      send(
        response,
        status,
        {
          type: 'about:blank',
          title: code,
          status,
          code,
          detail: isUprollError(err) ? err.message : 'internal error',
        },
        'application/problem+json',
      );
    }
  }

  await listen(server, options.host ?? '127.0.0.1', options.port ?? 0);
  const address = server.address();
  return {
    url: `${scheme}://${urlHost(options.host ?? '127.0.0.1')}:${typeof address === 'object' && address ? address.port : 0}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readBody(request: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new UprollError('INPUT_TOO_LARGE', `the body is over ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > maxBytes) throw new UprollError('INPUT_TOO_LARGE', `the body is over ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function send(response: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  response.writeHead(status, { 'content-type': type }).end(JSON.stringify(body));
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}
