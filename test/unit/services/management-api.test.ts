import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyStore } from '../../../keys/index.ts';
import { z } from 'zod';
import {
  apiRoute,
  issueApiToken,
  managementRoutes,
  startApiServer,
  type ApiChangeEvent,
  type ApiRole,
  type RefusedCall,
} from '../../../services/api/index.ts';
import { DirectorRepository, tagDevice } from '../../../services/director/index.ts';
import { newImageRepository } from '../../helpers/image-repository.ts';
import { expectMatchesDocument } from '../../helpers/api-contract.ts';

const tokenKeys = generateKeyPairSync('ed25519');
const refused: RefusedCall[] = [];
const changed: ApiChangeEvent[] = [];
let api: { url: string; close(): Promise<void> };
let image: Awaited<ReturnType<typeof newImageRepository>>;

beforeAll(async () => {
  image = await newImageRepository(new Date());
  api = await startApiServer({
    routes: managementRoutes({
      store: new KeyStore(await mkdtemp(join(tmpdir(), 'uproll-api-keys-')), { clock: () => new Date() }),
      image: image.repository,
      director: new DirectorRepository(await mkdtemp(join(tmpdir(), 'uproll-api-director-'))),
      releaseSigners: () => Promise.resolve(image.signers),
      now: () => new Date(),
    }),
    tokenKey: tokenKeys.publicKey,
    now: () => new Date(),
    checkResponses: true,
    onRefused: (call) => void refused.push(call),
    onChanged: (event) => Promise.resolve(void changed.push(event)),
  });
});
afterAll(() => api.close());

const token = (
  role: ApiRole,
  options: { now?: Date; ttl?: number; key?: typeof tokenKeys.privateKey } = {},
) =>
  issueApiToken({
    subject: `${role}-person`,
    role,
    ttlSeconds: options.ttl ?? 900,
    key: options.key ?? tokenKeys.privateKey,
    now: options.now ?? new Date(),
  });

let document: Parameters<typeof expectMatchesDocument>[0] | undefined;

/** One call, its answer checked against the OpenAPI document the server serves (but on a route it lacks). */
async function call(method: string, path: string, bearer?: string, body?: unknown) {
  const response = await fetch(`${api.url}${path}`, {
    method,
    headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const answer = { status: response.status, body: (await response.json()) as Record<string, unknown> };
  if (!path.includes('nothing-here')) {
    document ??= (await (
      await fetch(`${api.url}/api/v1/openapi.json`, {
        headers: { authorization: `Bearer ${await token('viewer')}` },
      })
    ).json()) as typeof document;
    expectMatchesDocument(document!, {
      method,
      path,
      contentType: response.headers.get('content-type'),
      ...answer,
    });
  }
  return answer;
}

const release = {
  artifacts: [
    {
      name: 'app.bin',
      contentBase64: Buffer.from('app').toString('base64'),
      hardwareIds: ['rpi4'],
      releaseCounter: 3,
    },
  ],
};

describe('management API', () => {
  it("lets a release manager publish a release, an audit event by the token's subject", async () => {
    const published = await call('POST', '/api/v1/releases', await token('release'), release);
    expect(published).toMatchObject({ status: 200, body: { releases: 2 } });
    expect((await call('GET', '/api/v1/releases', await token('security'))).body).toHaveProperty(['app.bin']);
    expect(changed.at(-1)).toMatchObject({
      aggregate: 'repository',
      aggregateId: 'image',
      type: 'repository.release.published',
      data: { by: 'release-person', artifacts: ['app.bin'], versions: published.body },
    });
  });

  describe('when a target name is published already', () => {
    const artifact = (name: string, content: string) => ({
      artifacts: [{ ...release.artifacts[0], name, contentBase64: Buffer.from(content).toString('base64') }],
    });

    it('refuses other content under it with TARGET_EXISTS (409), and changes nothing', async () => {
      await call('POST', '/api/v1/releases', await token('release'), artifact('fixed-1.bin', 'first'));
      const before = await image.repository.versions();
      const listed = (await image.repository.releasedTargets())['fixed-1.bin'];

      expect(
        await call('POST', '/api/v1/releases', await token('release'), artifact('fixed-1.bin', 'second')),
      ).toMatchObject({
        status: 409,
        body: { code: 'TARGET_EXISTS' },
      });
      expect(await image.repository.versions()).toEqual(before);
      expect((await image.repository.releasedTargets())['fixed-1.bin']).toEqual(listed);
    });

    it('takes the very same artifact again as done, signing nothing new', async () => {
      await call('POST', '/api/v1/releases', await token('release'), artifact('fixed-2.bin', 'same'));
      const before = await image.repository.versions();

      expect(
        await call('POST', '/api/v1/releases', await token('release'), artifact('fixed-2.bin', 'same')),
      ).toMatchObject({
        status: 200,
        body: before,
      });
      expect(changed.filter((e) => JSON.stringify(e.data.artifacts) === '["fixed-2.bin"]')).toHaveLength(1);
    });
  });

  describe('when a token names no subject the audit trail can name', () => {
    it('is not issued', async () => {
      await expect(
        issueApiToken({
          subject: 'a\nb',
          role: 'release',
          ttlSeconds: 60,
          key: tokenKeys.privateKey,
          now: new Date(),
        }),
      ).rejects.toThrowWithCode('INVALID_INPUT');
    });

    it.each([
      ['an empty subject', ''],
      ['a subject with a line break', 'alice\nby: bob'],
    ])('a signed one with %s is refused (401) and changes nothing', async (_, subject) => {
      const now = Math.floor(Date.now() / 1000);
      const bearer = await new SignJWT({ role: 'release' })
        .setProtectedHeader({ alg: 'EdDSA' })
        .setIssuer('uproll')
        .setAudience('uproll-api')
        .setSubject(subject)
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .sign(tokenKeys.privateKey);
      const before = await image.repository.versions();
      expect(await call('POST', '/api/v1/releases', bearer, release)).toMatchObject({
        status: 401,
        body: { code: 'UNAUTHORIZED', detail: 'the token names no valid subject' },
      });
      expect(await image.repository.versions()).toEqual(before);
    });
  });

  it('lets a security team list the keys', async () => {
    expect((await call('GET', '/api/v1/keys', await token('security'))).status).toBe(200);
  });

  it('lets a viewer read everything and change nothing (403 FORBIDDEN)', async () => {
    const viewer = await token('viewer');
    for (const path of ['/api/v1/keys', '/api/v1/devices', '/api/v1/releases'])
      expect((await call('GET', path, viewer)).status).toBe(200);
    const before = await image.repository.versions();
    expect(await call('POST', '/api/v1/releases', viewer, release)).toMatchObject({
      status: 403,
      body: { code: 'FORBIDDEN' },
    });
    expect(await image.repository.versions()).toEqual(before);
  });

  it('serves an OpenAPI 3.1 document with every route, its roles and its schemas', async () => {
    const served = await fetch(`${api.url}/api/v1/openapi.json`, {
      headers: { authorization: `Bearer ${await token('viewer')}` },
    });
    const doc = (await served.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method} ${path}`),
    );
    const routes = managementRoutes({} as never).map((r) => `${r.method} /api/v1${r.path}`);
    expect(documented.sort()).toEqual(routes.sort());
  });

  describe('refuses, with a coded problem and an audit record', () => {
    it.each([
      ['no token', undefined, 401, 'UNAUTHORIZED'],
      ['a token of another issuer key', 'other', 401, 'UNAUTHORIZED'],
      ['an expired token', 'expired', 401, 'TOKEN_EXPIRED'],
      ['the wrong role', 'security', 403, 'FORBIDDEN'],
    ] as const)('%s', async (_what, kind, status, code) => {
      const bearer =
        kind === undefined
          ? undefined
          : kind === 'other'
            ? await token('release', { key: generateKeyPairSync('ed25519').privateKey })
            : kind === 'expired'
              ? await token('release', { now: new Date(Date.now() - 3600_000), ttl: 60 })
              : await token('security');
      const before = await image.repository.versions();
      const response = await call('POST', '/api/v1/releases', bearer, release);
      expect(response).toMatchObject({ status, body: { code, status } });
      expect(refused.at(-1)).toMatchObject({ method: 'POST', path: '/api/v1/releases', code });
      expect(JSON.stringify(refused)).not.toContain(bearer ?? '§');
      expect(await image.repository.versions()).toEqual(before);
      expect(changed.filter((e) => e.data.by !== 'release-person')).toEqual([]);
    });
  });

  describe('rejects bad bodies and stores nothing', () => {
    it.each([
      ['malformed JSON', '{"artifacts": [', 400, 'INVALID_INPUT'],
      [
        'a missing hardware id',
        { artifacts: [{ ...release.artifacts[0], hardwareIds: [] }] },
        400,
        'INVALID_INPUT',
      ],
      [
        'a path outside the repository',
        { artifacts: [{ ...release.artifacts[0], name: '../x' }] },
        400,
        'INVALID_INPUT',
      ],
    ])('%s', async (_what, body, status, code) => {
      const before = await image.repository.versions();
      expect(await call('POST', '/api/v1/releases', await token('release'), body)).toMatchObject({
        status,
        body: { code },
      });
      expect(await image.repository.versions()).toEqual(before);
    });

    it.each([
      [
        'an unknown field of an artifact',
        { artifacts: [{ ...release.artifacts[0], length: 99999 }] },
        'length',
      ],
      ['an unknown field of the release', { ...release, signedBy: 'root' }, 'signedBy'],
      [
        'a 1,024-character name',
        { artifacts: [{ ...release.artifacts[0], name: 'a'.repeat(1024) }] },
        'artifacts.0.name',
      ],
      [
        'a name posing as a state revision',
        { artifacts: [{ ...release.artifacts[0], name: 'revisions/9.9.json' }] },
        'reserved for state revisions',
      ],
      [
        'two artifacts of one name',
        { artifacts: [release.artifacts[0], { ...release.artifacts[0], releaseCounter: 4 }] },
        'unique',
      ],
    ])('%s, naming it (400 INVALID_INPUT)', async (_what, body, named) => {
      const before = await image.repository.versions();
      const response = await call('POST', '/api/v1/releases', await token('release'), body);
      expect(response).toMatchObject({ status: 400, body: { code: 'INVALID_INPUT' } });
      expect(response.body['detail']).toContain(named);
      expect(await image.repository.versions()).toEqual(before);
    });
  });

  describe('answers only an authenticated caller which routes exist', () => {
    it('refuses an unknown route without a token as any other call: 401', async () => {
      expect(await call('GET', '/api/v1/nothing-here')).toMatchObject({
        status: 401,
        body: { code: 'UNAUTHORIZED' },
      });
    });

    it('answers an unknown route 404 ROUTE_NOT_FOUND', async () => {
      expect(await call('GET', '/api/v1/nothing-here', await token('release'))).toMatchObject({
        status: 404,
        body: { code: 'ROUTE_NOT_FOUND' },
      });
    });

    it('answers a known route with the wrong method 405 METHOD_NOT_ALLOWED, saying which it allows', async () => {
      const response = await fetch(`${api.url}/api/v1/releases`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${await token('release')}` },
      });
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('GET, POST');
      expect(await response.json()).toMatchObject({ code: 'METHOD_NOT_ALLOWED' });
    });
  });

  it('refuses a body over its cap with INPUT_TOO_LARGE', async () => {
    const small = await startApiServer({
      routes: [
        apiRoute({
          method: 'post',
          path: '/echo',
          summary: 'echo',
          roles: ['release'],
          body: z.string(),
          maxBodyBytes: 16,
          response: z.object({}),
          handle: () => Promise.resolve({}),
        }),
      ],
      tokenKey: tokenKeys.publicKey,
      now: () => new Date(),
      onChanged: () => Promise.resolve(),
    });
    const response = await fetch(`${small.url}/api/v1/echo`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await token('release')}` },
      body: 'x'.repeat(1024),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: 'INPUT_TOO_LARGE' });
    await small.close();
  });
});

describe('GET /api/v1/devices', () => {
  const apps = [
    {
      name: 'web',
      container: 'uproll-web-0123456789ab',
      state: 'restarting' as const,
      exitCode: 3,
      restarts: 2,
      startedAt: '2026-12-01T13:53:01.123456789Z',
    },
  ];
  const ecus = (hardwareId: string) => [{ serial: 'e1', hardwareId }];
  const view = (deviceId: string) => ({ deviceId, updatedAt: '2026-12-01T13:53:00.000Z', lastSequence: 1 });
  /** Three devices, as the Director lists them (its inventory alone is read, and the tags beside it). */
  async function fakeDirector() {
    const publicKey = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: 'ab' } };
    const records = [
      { deviceId: 'heard', ecus: ecus('hw-a'), publicKey, installed: {}, attacksDetected: {} },
      { deviceId: 'silent', ecus: ecus('hw-a'), publicKey, installed: {}, attacksDetected: {} },
      { deviceId: 'other', ecus: ecus('hw-b'), publicKey, installed: {}, attacksDetected: {} },
    ];
    const director = {
      dir: await mkdtemp(join(tmpdir(), 'uproll-api-devices-')),
      devices: () => Promise.resolve(records),
      inventory: (id: string) => Promise.resolve(records.find((r) => r.deviceId === id)),
    } as unknown as DirectorRepository;
    await tagDevice(director, 'silent', { add: ['lab'], remove: [] });
    return director;
  }
  const asked: string[][] = [];
  let devices: { url: string; close(): Promise<void> };
  let withoutNats: { url: string; close(): Promise<void> };
  beforeAll(async () => {
    const director = await fakeDirector();
    const common = {
      store: new KeyStore(await mkdtemp(join(tmpdir(), 'uproll-api-keys-')), { clock: () => new Date() }),
      image: image.repository,
      director,
      releaseSigners: () => Promise.resolve(image.signers),
      now: () => new Date(),
    };
    const server = (routes: ReturnType<typeof managementRoutes>) =>
      startApiServer({
        routes,
        tokenKey: tokenKeys.publicKey,
        now: () => new Date(),
        checkResponses: true,
        onChanged: () => Promise.resolve(),
      });
    devices = await server(
      managementRoutes({
        ...common,
        presence: {
          of: (ids) => {
            asked.push([...ids]);
            return Promise.resolve({
              heard: { lastSeenAt: '2026-12-01T13:53:02.000Z', revision: '1.0', apps },
            });
          },
        },
        views: () =>
          Promise.resolve({
            heard: { ...view('heard'), phase: 'committed', committedRevision: 'v2', revision: 'v2' },
            silent: { ...view('silent'), phase: 'failed', committedRevision: 'v1', revision: 'v2' },
          }),
      }),
    );
    withoutNats = await server(managementRoutes(common));
  });
  afterAll(async () => {
    await devices.close();
    await withoutNats.close();
  });
  const list = async (query = '', at = devices) => {
    const response = await fetch(`${at.url}/api/v1/devices${query}`, {
      headers: { authorization: `Bearer ${await token('viewer')}` },
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown>[] };
  };
  const ids = async (query: string) => (await list(query)).body.map((d) => d['deviceId']);

  it("lists each device, sorted, with its tags, phase, what it runs, when its heartbeats were last heard and its apps' state", async () => {
    const { body } = await list();
    expect(body).toEqual([
      expect.objectContaining({
        deviceId: 'heard',
        tags: [],
        phase: 'committed',
        committedRevision: 'v2',
        lastSeenAt: '2026-12-01T13:53:02.000Z',
        apps,
      }),
      expect.objectContaining({ deviceId: 'other', tags: [], lastSeenAt: null, apps: [] }),
      expect.objectContaining({ deviceId: 'silent', tags: ['lab'], phase: 'failed', lastSeenAt: null }),
    ]);
    expect(body[1]).not.toHaveProperty('phase'); // no update yet
    expect(asked.at(-1)).toEqual(['heard', 'other', 'silent']); // one ask for the page
  });

  it('filters by group, hardware id, revision and phase', async () => {
    expect(await ids('?tag=lab')).toEqual(['silent']);
    expect(await ids('?hardwareId=hw-a')).toEqual(['heard', 'silent']);
    expect(await ids('?revision=v2')).toEqual(['heard']);
    expect(await ids('?phase=failed')).toEqual(['silent']);
    expect(await ids('?hardwareId=hw-a&phase=committed')).toEqual(['heard']);
    expect(await ids('?tag=nobody')).toEqual([]);
  });

  it('pages: at most `limit` devices, the next page after the last id', async () => {
    expect(await ids('?limit=2')).toEqual(['heard', 'other']);
    expect(await ids('?limit=2&after=other')).toEqual(['silent']);
  });

  it('refuses a bad filter, and revision or phase where the projection is out of reach (400)', async () => {
    for (const query of ['?phase=lost', '?tag=Not%20A%20Tag', '?limit=0', '?limit=10001'])
      expect(await list(query), query).toMatchObject({ status: 400, body: { code: 'INVALID_INPUT' } });
    expect(await list('?phase=failed', withoutNats)).toMatchObject({
      status: 400,
      body: { code: 'INVALID_INPUT', detail: expect.stringContaining('device projection') as string },
    });
    expect((await list('?tag=lab', withoutNats)).body.map((d) => d['deviceId'])).toEqual(['silent']);
  });
});
