import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fleetRoutes,
  issueApiToken,
  managementRoutes,
  startApiServer,
  type ApiRole,
  type ApiRoute,
  type ApiStream,
} from '../../../services/api/index.ts';

// Every route `uproll serve` serves, against every role: a role a route does
// not name is refused (403 FORBIDDEN) before anything is read or changed, a
// call without a token is refused (401), and a role it names gets past both.
// The routes' dependencies are never reached by a refused call: here each of
// their methods fails, so a call that got through answers 500 (or 400), never 403.
const tokenKeys = generateKeyPairSync('ed25519');
const ROLES: readonly ApiRole[] = ['security', 'release', 'viewer'];
const nothing = new Proxy({}, { get: () => () => Promise.reject(new Error('nothing here')) }) as never;
const fleet = fleetRoutes({
  temporal: nothing,
  nc: nothing,
  eventLog: nothing,
  director: nothing,
  image: nothing,
  now: () => new Date(),
});
const routes: (ApiRoute | ApiStream)[] = [
  ...managementRoutes({
    store: nothing,
    image: nothing,
    director: nothing,
    releaseSigners: () => Promise.reject(new Error('no signers here')),
    now: () => new Date(),
  }),
  ...fleet.routes,
  ...fleet.streams,
];
let api: { url: string; close(): Promise<void> };

beforeAll(async () => {
  api = await startApiServer({
    routes: routes.filter((r): r is ApiRoute => 'response' in r),
    streams: fleet.streams,
    tokenKey: tokenKeys.publicKey,
    now: () => new Date(),
    onChanged: () => Promise.resolve(),
    onInternalError: () => {}, // the nothing-dependencies fail on purpose
  });
});
afterAll(() => api.close());

/** The route's path with each `{param}` filled in with a well-formed value. */
const concrete = (path: string) => path.replace(/\{[^}]+\}/g, 'x1');

async function call(route: ApiRoute | ApiStream, role?: ApiRole) {
  const token =
    role &&
    (await issueApiToken({
      subject: `${role}-person`,
      role,
      ttlSeconds: 60,
      key: tokenKeys.privateKey,
      now: new Date(),
    }));
  const stop = new AbortController();
  const response = await fetch(`${api.url}/api/v1${concrete(route.path)}`, {
    method: route.method.toUpperCase(),
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
    ...(route.method === 'post' ? { body: '{}' } : {}),
    signal: stop.signal,
  });
  stop.abort(); // a stream that opened is not read
  return response.status;
}

describe('every route of the management API', () => {
  it('is checked here: each route of the OpenAPI document', async () => {
    const token = await issueApiToken({
      subject: 'viewer-person',
      role: 'viewer',
      ttlSeconds: 60,
      key: tokenKeys.privateKey,
      now: new Date(),
    });
    const document = (await (
      await fetch(`${api.url}/api/v1/openapi.json`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method} ${path}`),
    );
    expect(routes.map((r) => `${r.method} /api/v1${r.path}`).sort()).toEqual(
      documented.filter((route) => !route.endsWith('/openapi.json')).sort(),
    );
  });

  it.each(routes.map((route) => [`${route.method.toUpperCase()} ${route.path}`, route] as const))(
    '%s: 401 without a token, 403 for a role it does not name, past both for one it names',
    async (_, route) => {
      expect(await call(route)).toBe(401);
      for (const role of ROLES) {
        const status = await call(route, role);
        if (route.roles.includes(role)) expect([401, 403], `${role} was refused`).not.toContain(status);
        else expect(status, `${role} got through`).toBe(403);
      }
    },
  );
});
