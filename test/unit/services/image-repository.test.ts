import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  findTarget,
  NO_CACHE,
  refreshRepository,
  roleFetcher,
  TrustedRepository,
} from '../../../core/tuf/index.ts';
import { startRepositoryServer, type RepositoryServer } from '../../../services/image-repo/index.ts';
import { fetchCapped, joinUrl } from '../../../adapters/tuf/index.ts';
import { newImageRepository, REPO_NOW } from '../../helpers/image-repository.ts';

const rootfs = new TextEncoder().encode('rootfs 2.0 for rpi4');
let server: RepositoryServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function clientOf(dir: string) {
  server = await startRepositoryServer({ dir });
  const fetch = (file: string, max: number) => fetchCapped(joinUrl(server!.metadataUrl, file), max);
  const client = new TrustedRepository(await readFile(join(dir, 'metadata', '1.root.json')), {
    name: 'image',
  });
  await refreshRepository(client, fetch, NO_CACHE, REPO_NOW);
  return { client, fetch };
}

describe('Image repository', () => {
  it('publishes a release that a TUF client finds through the releases delegation, with its hardware and counter', async () => {
    const { repository, signers } = await newImageRepository();
    await repository.publish(
      [{ name: 'rootfs-2.0.img', bytes: rootfs, hardwareIds: ['rpi4'], releaseCounter: 2 }],
      signers,
      REPO_NOW,
    );
    const { client, fetch } = await clientOf(repository.dir);
    const found = await findTarget(client, 'rootfs-2.0.img', roleFetcher(client, fetch), REPO_NOW);
    expect(found.role).toBe('releases');
    expect(found.target.custom).toEqual({ hardwareIds: ['rpi4'], releaseCounter: 2 });
    expect(await repository.versions()).toEqual({
      root: 1,
      targets: 1,
      releases: 2,
      snapshot: 2,
      timestamp: 2,
    });
  });

  it('stores targets content-addressed and serves them whole or by range', async () => {
    const { repository, signers } = await newImageRepository();
    await repository.publish(
      [{ name: 'apps/web.tar', bytes: rootfs, hardwareIds: ['rpi4'], releaseCounter: 1 }],
      signers,
      REPO_NOW,
    );
    const sha256 = (await repository.releasedTargets())['apps/web.tar']?.hashes['sha256'];
    server = await startRepositoryServer({ dir: repository.dir });
    const url = `${server.targetsUrl}apps/${sha256}.web.tar`;
    const whole = await fetch(url);
    expect(Buffer.from(await whole.arrayBuffer())).toEqual(Buffer.from(rootfs));
    const part = await fetch(url, { headers: { range: 'bytes=7-' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 7-${rootfs.byteLength - 1}/${rootfs.byteLength}`);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(Buffer.from(rootfs.subarray(7)));
    const again = await fetch(url, { headers: { 'if-none-match': whole.headers.get('etag') ?? '' } });
    expect(again.status).toBe(304);
    expect((await fetch(url, { headers: { range: 'bytes=999-' } })).status).toBe(416);
  });

  it('never serves a path outside the repository', async () => {
    const { repository } = await newImageRepository();
    server = await startRepositoryServer({ dir: repository.dir });
    for (const path of ['/metadata/../../etc/passwd', '/metadata/%2e%2e/x', '/other/file', '/targets/']) {
      expect((await fetch(`${server.url}${path}`)).status).toBe(404);
    }
    expect((await fetch(`${server.metadataUrl}timestamp.json`, { method: 'POST' })).status).toBe(405);
  });

  it('never follows a symlink out of its directory, to a file or through a folder', async () => {
    const { repository } = await newImageRepository();
    const outside = await mkdtemp(join(tmpdir(), 'uproll-outside-'));
    await writeFile(join(outside, 'secret'), 'not for devices');
    await mkdir(join(repository.dir, 'targets'), { recursive: true });
    await symlink(join(outside, 'secret'), join(repository.dir, 'targets', 'secret'));
    await symlink(outside, join(repository.dir, 'metadata', 'elsewhere'));
    await symlink(
      join(repository.dir, 'metadata', '1.root.json'),
      join(repository.dir, 'metadata', 'alias.json'),
    );
    server = await startRepositoryServer({ dir: repository.dir });
    for (const path of ['targets/secret', 'metadata/elsewhere/secret', 'metadata/alias.json'])
      expect((await fetch(`${server.url}/${path}`)).status, path).toBe(404);
    expect((await fetch(`${server.metadataUrl}1.root.json`)).status).toBe(200);
    await rm(outside, { recursive: true });
  });

  it('refuses artifacts without hardware ids or with a bad name, and changes nothing', async () => {
    const { repository, signers } = await newImageRepository();
    const before = await repository.versions();
    await expect(
      repository.publish(
        [{ name: 'x.img', bytes: rootfs, hardwareIds: [], releaseCounter: 1 }],
        signers,
        REPO_NOW,
      ),
    ).rejects.toThrowWithCode('INVALID_INPUT');
    await expect(
      repository.publish(
        [{ name: '../x.img', bytes: rootfs, hardwareIds: ['a'], releaseCounter: 1 }],
        signers,
        REPO_NOW,
      ),
    ).rejects.toThrowWithCode('INVALID_TARGET_PATH');
    expect(await repository.versions()).toEqual(before);
  });

  it('refuses a plain artifact under revisions/, two of one name, or a name too long to store, and changes nothing', async () => {
    const { repository, signers } = await newImageRepository();
    const before = await repository.versions();
    const artifact = (name: string, releaseCounter = 1) => ({
      name,
      bytes: rootfs,
      hardwareIds: ['a'],
      releaseCounter,
    });
    for (const artifacts of [
      [artifact('revisions/9.9.json')],
      [artifact('x.img'), artifact('x.img', 2)],
      [artifact('a'.repeat(1024))],
      [artifact(`apps/${'b'.repeat(200)}.img`)],
    ])
      await expect(repository.publish(artifacts, signers, REPO_NOW)).rejects.toThrow(
        expect.objectContaining({ code: expect.stringMatching(/^INVALID_(INPUT|TARGET_PATH)$/) as string }),
      );
    expect(await repository.versions()).toEqual(before);
    expect(await repository.releasedTargets()).toEqual({});
  });

  it('re-signs the timestamp, and the snapshot when asked, without touching targets', async () => {
    const { repository, signers } = await newImageRepository();
    expect(await repository.refresh(signers, REPO_NOW, { snapshot: false })).toMatchObject({
      snapshot: 1,
      timestamp: 2,
    });
    expect(await repository.refresh(signers, REPO_NOW, { snapshot: true })).toMatchObject({
      snapshot: 2,
      timestamp: 3,
      releases: 1,
    });
    await clientOf(repository.dir);
  });
});

describe('when a name is published already', () => {
  const revision = (content: string) => ({
    name: '2.0',
    artifacts: [{ path: 'rootfs.img', bytes: new TextEncoder().encode(content) }],
    hardwareIds: ['rpi4'],
    releaseCounter: 2,
  });

  it('refuses a revision of that name with other artifacts (REVISION_EXISTS), and changes nothing', async () => {
    const { repository, signers } = await newImageRepository();
    await repository.publishRevision(revision('rootfs 2.0'), signers, REPO_NOW);
    const before = await repository.versions();
    const listed = await repository.releasedTargets();

    await expect(
      repository.publishRevision(revision('other rootfs'), signers, REPO_NOW),
    ).rejects.toThrowWithCode('REVISION_EXISTS');
    await expect(
      repository.publishRevision({ ...revision('rootfs 2.0'), releaseCounter: 3 }, signers, REPO_NOW),
    ).rejects.toThrowWithCode('REVISION_EXISTS');
    expect(await repository.versions()).toEqual(before);
    expect(await repository.releasedTargets()).toEqual(listed);
  });

  it('takes the very same revision again as already published, signing nothing', async () => {
    const { repository, signers } = await newImageRepository();
    const first = await repository.publishRevision(revision('rootfs 2.0'), signers, REPO_NOW);
    const again = await repository.publishRevision(revision('rootfs 2.0'), signers, REPO_NOW);

    expect(first.alreadyPublished).toBe(false);
    expect(again).toEqual({ ...first, alreadyPublished: true });
  });

  it('refuses an artifact of that name with other bytes (TARGET_EXISTS)', async () => {
    const { repository, signers } = await newImageRepository();
    const artifact = (bytes: Uint8Array) => ({
      name: 'app.bin',
      bytes,
      hardwareIds: ['rpi4'],
      releaseCounter: 1,
    });
    const published = await repository.publish([artifact(rootfs)], signers, REPO_NOW);

    await expect(
      repository.publish([artifact(new TextEncoder().encode('other'))], signers, REPO_NOW),
    ).rejects.toThrowWithCode('TARGET_EXISTS');
    expect(await repository.publish([artifact(rootfs)], signers, REPO_NOW)).toEqual(published);
  });
});
