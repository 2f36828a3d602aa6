import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRepositoryServer, type RepositoryServer } from '../../../services/image-repo/index.ts';
import { ensureServerTls } from '../../../services/tls/index.ts';
import { fetchCapped, trustServerCa } from '../../../adapters/tuf/index.ts';

let dir: string;
let server: RepositoryServer;
let caFile: string;
const ROOT = '{"signed":{"_type":"root"}}';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uproll-https-repo-'));
  await mkdir(join(dir, 'repo', 'metadata'), { recursive: true });
  await writeFile(join(dir, 'repo', 'metadata', '1.root.json'), ROOT);
  const tls = await ensureServerTls(join(dir, 'state'), { now: new Date() });
  caFile = tls.caFile;
  server = await startRepositoryServer({
    dir: join(dir, 'repo'),
    tls: { cert: await readFile(tls.certFile, 'utf8'), key: await readFile(tls.keyFile, 'utf8') },
  });
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('a repository served over HTTPS with a certificate from the deployment CA', () => {
  it('is refused by a device that does not trust that CA, and read once it does (from its bundle)', async () => {
    expect(server.metadataUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/metadata\/$/);
    await expect(fetchCapped(`${server.metadataUrl}1.root.json`, 1024)).rejects.toThrowWithCode(
      'DOWNLOAD_FAILED',
    );
    trustServerCa(await readFile(caFile, 'utf8'));
    expect(Buffer.from((await fetchCapped(`${server.metadataUrl}1.root.json`, 1024))!).toString()).toBe(ROOT);
  });

  it('answers nothing in plain HTTP on its port', async () => {
    await expect(
      fetchCapped(`${server.metadataUrl.replace('https:', 'http:')}1.root.json`, 1024),
    ).rejects.toThrowWithCode('DOWNLOAD_FAILED');
  });
});
