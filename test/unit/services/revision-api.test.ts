import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueApiToken, revisionRoutes, startApiServer } from '../../../services/api/index.ts';
import { expectMatchesDocument } from '../../helpers/api-contract.ts';
import { newImageRepository } from '../../helpers/image-repository.ts';

// A release manager compares revisions over HTTP before rolling one out:
// what changes, and what each device will download.
const tokenKeys = generateKeyPairSync('ed25519');
let api: { url: string; close(): Promise<void> };
let document: Parameters<typeof expectMatchesDocument>[0];
const bytes = (text: string) => new TextEncoder().encode(text);

beforeAll(async () => {
  const image = await newImageRepository(new Date());
  const release = (name: string, artifacts: Record<string, string>) =>
    image.repository.publishRevision(
      {
        name,
        artifacts: Object.entries(artifacts).map(([path, text]) => ({ path, bytes: bytes(text) })),
        hardwareIds: ['rpi4'],
        releaseCounter: 1,
      },
      image.signers,
      new Date(),
    );
  await release('v1', { 'bin/app': 'app one', 'etc/conf': 'same', old: 'gone in v2' });
  await release('v2', { 'bin/app': 'app two!', 'etc/conf': 'same', new: 'new' });
  api = await startApiServer({
    routes: revisionRoutes({ image: image.repository }),
    tokenKey: tokenKeys.publicKey,
    now: () => new Date(),
    checkResponses: true,
    onChanged: () => Promise.resolve(),
  });
  document = (await (await get('/openapi.json')).json()) as typeof document;
});
afterAll(() => api.close());

async function get(path: string) {
  const token = await issueApiToken({
    subject: 'viewer-person',
    role: 'viewer',
    ttlSeconds: 300,
    key: tokenKeys.privateKey,
    now: new Date(),
  });
  return fetch(`${api.url}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
}

async function call(path: string) {
  const response = await get(path);
  const body = (await response.json()) as Record<string, unknown>;
  const answer = { status: response.status, body };
  expectMatchesDocument(document, {
    method: 'GET',
    path: `/api/v1${path}`,
    contentType: response.headers.get('content-type'),
    ...answer,
  });
  return answer;
}

describe('revisions over the management API', () => {
  it('lists the released revisions by name', async () => {
    const { body } = await call('/revisions');
    expect((body as unknown as { name: string }[]).map((r) => r.name)).toEqual(['v1', 'v2']);
  });

  it('shows one as devices install it', async () => {
    const { body } = await call('/revisions/v2');
    expect(body).toMatchObject({ name: 'v2', kind: 'uproll.state-revision/v1' });
    expect((body['artifacts'] as { path: string }[]).map((a) => a.path)).toEqual([
      'bin/app',
      'etc/conf',
      'new',
    ]);
  });

  it('says what changes from one to another and the bytes a device on the first downloads', async () => {
    const { status, body } = await call('/revisions/v2/diff?from=v1');
    expect(status).toBe(200);
    expect(body).toMatchObject({
      from: 'v1',
      to: 'v2',
      artifacts: { added: ['new'], removed: ['old'], changed: ['bin/app'], unchanged: 1 },
      os: { changes: false },
      // "app two!" and "new": the unchanged etc/conf is held already.
      download: { objects: 2, bytes: 8 + 3, ofBytes: 8 + 4 + 3 },
    });
  });

  it('answers REVISION_NOT_FOUND (404) for a revision never released, INVALID_INPUT for a bad name', async () => {
    expect(await call('/revisions/v9')).toMatchObject({ status: 404, body: { code: 'REVISION_NOT_FOUND' } });
    expect(await call('/revisions/v2/diff?from=v9')).toMatchObject({
      status: 404,
      body: { code: 'REVISION_NOT_FOUND' },
    });
    expect(await call('/revisions/v2/diff')).toMatchObject({ status: 400, body: { code: 'INVALID_INPUT' } });
    expect(await call('/revisions/..%2Fetc')).toMatchObject({ status: 400, body: { code: 'INVALID_INPUT' } });
  });
});
