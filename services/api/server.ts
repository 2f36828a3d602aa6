import type { KeyObject } from 'node:crypto';
import { getRequestListener } from '@hono/node-server';
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { createWebServer, listenOn, urlHost, type ServerKeyPair } from '../tls/index.ts';
import {
  ERROR_CODES,
  isUprollError,
  UprollError,
  type Clock,
  type UprollErrorCode,
} from '../../core/index.ts';
import { API_BASE, type ApiStream, type ApiChange, type ApiChangeEvent, type ApiRoute } from './api-route.ts';
import { verifyApiToken, type ApiCaller, type ApiRole } from './tokens.ts';
import { serveDashboard } from './dashboard-files.ts';

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

const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

interface ApiEnv {
  Variables: { caller: ApiCaller };
}

export interface ApiServerOptions {
  routes: readonly ApiRoute[];
  /** Server-sent event streams (live views). */
  streams?: readonly ApiStream[];
  tokenKey: KeyObject;
  onRefused?: (call: RefusedCall) => Promise<void> | void;
  /**
   * Takes each change a call made, before the call is answered: the audit
   * trail has every change made through the API, with who made it.
   */
  onChanged: (event: ApiChangeEvent) => Promise<void>;
  /** The reference time of token expiry. */
  now: Clock;
  /** Check every answer against its route's response schema, a mismatch answered 500 (tests). */
  checkResponses?: boolean;
  /** Told of each call that failed without a code of its own (answered 500 INTERNAL_ERROR): a bug to look at. */
  onInternalError?: (err: unknown, call: { method: string; path: string }) => void;
}

/**
 * The management API as a Hono app: JSON over HTTP under {@link API_BASE},
 * each call authenticated by a short-lived signed token and allowed by role,
 * bodies and queries validated by the routes' zod schemas, which also make
 * the OpenAPI 3.1 document at `/api/v1/openapi.json`. Errors are problem
 * documents (RFC 9457) carrying the stable code; every refused call is
 * reported to `onRefused`. Devices hold no tokens and so have no access.
 */
export function managementApp(options: ApiServerOptions): OpenAPIHono<ApiEnv> {
  const app = new OpenAPIHono<ApiEnv>({
    defaultHook: (result) => {
      if (!result.success) throw invalid(result.error, result.target);
    },
  });

  // Only a caller with a valid token learns which routes exist: authentication comes first.
  app.use('/api/*', async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    if (!header.startsWith('Bearer '))
      throw new UprollError('UNAUTHORIZED', 'send a token as Authorization: Bearer <token>');
    c.set('caller', await verifyApiToken(header.slice(7), options.tokenKey, options.now()));
    await next();
  });

  for (const route of options.routes) app.openapi(openApiRoute(route), handlerOf(route, options));
  for (const stream of options.streams ?? [])
    app.openapi(openApiStream(stream), streamHandlerOf(stream, options));
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT (EdDSA), from uproll api token',
  });
  app.doc31(`${API_BASE}/openapi.json`, {
    openapi: '3.1.0',
    info: {
      title: 'Uproll management API',
      version: '1',
      description: 'Every call takes a token from `uproll api token` as `Authorization: Bearer <token>`.',
    },
  });

  app.notFound((c) => {
    const allowed = allowedMethods([...options.routes, ...(options.streams ?? [])], c.req.path);
    if (allowed.length === 0) throw new UprollError('ROUTE_NOT_FOUND', `no ${c.req.path} in this API`);
    c.header('allow', allowed.join(', '));
    throw new UprollError(
      'METHOD_NOT_ALLOWED',
      `${c.req.path} answers ${allowed.join(' and ')}, not ${c.req.method}`,
    );
  });

  app.onError(async (err, c) => {
    const problem = problemOf(err);
    if (problem.status === 500) options.onInternalError?.(err, { method: c.req.method, path: c.req.path });
    if (problem.status === 401 || problem.status === 403) {
      const caller = c.get('caller') as ApiCaller | undefined;
      const remote = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming
        ?.socket?.remoteAddress;
      await options.onRefused?.({
        method: c.req.method,
        path: c.req.path,
        code: problem.code,
        ...(caller ? { subject: caller.subject, role: caller.role } : {}),
        ...(remote ? { remote } : {}),
      });
    }
    return c.body(JSON.stringify(problem), problem.status as 400, {
      'content-type': 'application/problem+json',
    });
  });
  return app;
}

/** The route as the OpenAPI document and the validators see it. */
function openApiRoute(route: ApiRoute) {
  return createRoute({
    method: route.method,
    path: `${API_BASE}${route.path}`,
    summary: route.summary,
    description: `Roles: ${route.roles.join(', ')}.`,
    security: [{ bearer: [] }],
    middleware: [allowRoles(route.roles), ...(route.method === 'post' ? [capBody(route)] : [])],
    request: {
      ...(route.params ? { params: route.params } : {}),
      ...(route.query ? { query: route.query } : {}),
      ...(route.body
        ? { body: { required: true, content: { 'application/json': { schema: route.body } } } }
        : {}),
    },
    responses: {
      200: { description: 'OK', content: { 'application/json': { schema: route.response } } },
      default: {
        description: 'A problem document (RFC 9457) with a stable `code`.',
        content: { 'application/problem+json': { schema: problemSchema } },
      },
    },
  });
}

function openApiStream(stream: ApiStream) {
  return createRoute({
    method: stream.method,
    path: `${API_BASE}${stream.path}`,
    summary: stream.summary,
    description: `Roles: ${stream.roles.join(', ')}. Server-sent events; each event's data is JSON.`,
    security: [{ bearer: [] }],
    middleware: [allowRoles(stream.roles)],
    request: stream.query ? { query: stream.query } : {},
    responses: {
      200: { description: 'An event stream', content: { 'text/event-stream': { schema: z.string() } } },
      default: {
        description: 'A problem document (RFC 9457) with a stable `code`.',
        content: { 'application/problem+json': { schema: problemSchema } },
      },
    },
  });
}

function streamHandlerOf(stream: ApiStream, options: ApiServerOptions) {
  return (c: Context<ApiEnv>) => {
    const query = stream.query
      ? (c.req.valid as (t: string) => Record<string, unknown>).call(c.req, 'query')
      : {};
    const caller = c.get('caller');
    return streamSSE(
      c,
      async (sse) => {
        const gone = new AbortController();
        sse.onAbort(() => gone.abort());
        await sse.writeSSE({ event: 'ready', data: '{}' });
        await stream.open(
          { caller, query },
          (event, data) => sse.writeSSE({ event, data: JSON.stringify(data) }),
          gone.signal,
        );
      },
      // A stream that breaks (NATS out of reach) says why as its last event, a problem document.
      async (err, sse) => {
        if (problemOf(err).status === 500)
          options.onInternalError?.(err, { method: 'GET', path: c.req.path });
        await sse.writeSSE({ event: 'error', data: JSON.stringify(problemOf(err)) });
      },
    );
  };
}

function handlerOf(route: ApiRoute, options: ApiServerOptions) {
  return async (c: Context<ApiEnv>) => {
    const caller = c.get('caller');
    // Routes are registered from data, so the framework cannot type what it validated.
    const valid = (target: string) =>
      (c.req.valid as (t: string) => Record<string, unknown>).call(c.req, target);
    const changes: ApiChange[] = [];
    const result = await route.handle({
      caller,
      params: route.params ? valid('param') : {},
      query: route.query ? valid('query') : {},
      body: route.body ? valid('json') : undefined,
      record: (change) => void changes.push(change),
    });
    if (options.checkResponses) checkResponse(route, result);
    for (const change of changes) {
      const at = options.now().toISOString();
      await options.onChanged({ ...change, at, data: { ...change.data, by: caller.subject } });
    }
    return c.json(result as object, 200);
  };
}

function allowRoles(roles: readonly ApiRole[]): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const { role } = c.get('caller');
    if (!roles.includes(role))
      throw new UprollError(
        'FORBIDDEN',
        `role ${role} may not ${c.req.method} ${c.req.path}; it needs ${roles.join(' or ')}`,
      );
    await next();
  };
}

function capBody(route: ApiRoute): MiddlewareHandler {
  const maxSize = route.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  return bodyLimit({
    maxSize,
    onError: () => {
      throw new UprollError('INPUT_TOO_LARGE', `the body is over ${maxSize} bytes`);
    },
  });
}

function checkResponse(route: ApiRoute, result: unknown): void {
  const checked = route.response.safeParse(result);
  if (!checked.success)
    throw new Error(`${route.method} ${route.path} answered outside its schema: ${checked.error.message}`);
}

/** The validation failure as one line naming every bad field, as the CLI's `parseValue` does. */
function invalid(error: z.ZodError, target: string): UprollError {
  const what = target === 'json' ? 'the body' : `the ${target === 'param' ? 'path' : target}`;
  const problems = error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
  return new UprollError('INVALID_INPUT', `${what} is invalid: ${problems}`, { cause: error });
}

const problemSchema = z
  .object({
    type: z.literal('about:blank'),
    title: z.string(),
    status: z.int(),
    code: z.string(),
    detail: z.string(),
  })
  .meta({ id: 'Problem' });

type Problem = z.infer<typeof problemSchema> & { code: UprollErrorCode };

function problemOf(err: unknown): Problem {
  if (isUprollError(err)) {
    const status = ERROR_CODES[err.code].httpStatus;
    return { type: 'about:blank', title: err.code, status, code: err.code, detail: err.message };
  }
  // The framework's own refusals (a body that is not JSON, say) are bad input too.
  if (err instanceof HTTPException && err.status < 500) {
    const detail = err.message.includes('JSON') ? 'the body is not valid JSON' : err.message;
    return { type: 'about:blank', title: 'INVALID_INPUT', status: 400, code: 'INVALID_INPUT', detail };
  }
  return {
    type: 'about:blank',
    title: 'INTERNAL_ERROR',
    status: 500,
    code: 'INTERNAL_ERROR',
    detail: 'internal error',
  };
}

/** The methods some route answers at `path` (a concrete path, its parameters filled in). */
function allowedMethods(routes: readonly { method: string; path: string }[], path: string): string[] {
  return routes
    .filter((r) => pathPattern(`${API_BASE}${r.path}`).test(path))
    .map((r) => r.method.toUpperCase());
}

function pathPattern(template: string): RegExp {
  const escaped = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+');
  return new RegExp(`^${escaped}$`);
}

/** The management API on `host:port` (default 127.0.0.1, a free port), HTTPS with `tls`. */
export async function startApiServer(
  options: ApiServerOptions & {
    host?: string;
    port?: number;
    tls?: ServerKeyPair;
    /** Serve the dashboard built there at `/dashboard/`. */
    dashboardDir?: string;
    /** Prometheus metrics at `/metrics` (aggregates only: no token asked, as scrapers have none). */
    metrics?: { text(): Promise<string>; contentType: string };
  },
): Promise<{ url: string; close(): Promise<void> }> {
  const app = managementApp(options);
  if (options.dashboardDir) await serveDashboard(app, options.dashboardDir);
  const { metrics } = options;
  if (metrics)
    app.get('/metrics', async (c) =>
      c.body(await metrics.text(), 200, { 'content-type': metrics.contentType }),
    );
  const listener = getRequestListener(app.fetch);
  const { server, scheme } = createWebServer(
    (request, response) => void listener(request, response),
    options.tls,
  );
  const host = options.host ?? '127.0.0.1';
  await listenOn(server, host, options.port ?? 0, 'the management API');
  const address = server.address();
  return {
    url: `${scheme}://${urlHost(host)}:${typeof address === 'object' && address ? address.port : 0}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
