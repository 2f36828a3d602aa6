import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdtemp, readdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StateRevision } from '../../../core/index.ts';
import { OstreeInstaller } from '../../../agent/installers/ostree.ts';
import { ObjectStore } from '../../../agent/object-store.ts';

const run = promisify(execFile);

let dataDir: string;
let objects: ObjectStore;
let installer: OstreeInstaller;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'uproll-ostree-'));
  objects = new ObjectStore(dataDir);
  installer = new OstreeInstaller(dataDir);
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const repo = () => join(dataDir, 'ostree', 'repo');
const ostree = async (...args: string[]) =>
  (await run('ostree', [args[0] ?? '', `--repo=${repo()}`, ...args.slice(1)])).stdout;

/** Puts each file into the object store and returns the revision that lists them. */
async function revision(name: string, files: Record<string, string>): Promise<StateRevision> {
  const artifacts = [];
  for (const [path, text] of Object.entries(files)) {
    const bytes = new TextEncoder().encode(text);
    const artifact = { path, sha256: sha256(bytes), length: bytes.byteLength };
    await objects.put(artifact, Readable.from([bytes]));
    artifacts.push(artifact);
  }
  return { kind: 'uproll.state-revision/v1', name, artifacts };
}

const v1 = { 'bin/app': 'app v1', 'etc/app.conf': 'port=80', README: 'read me' };
const v2 = { ...v1, 'bin/app': 'app v2' };

describe('the OSTree installer', () => {
  describe('when a revision is staged and activated', () => {
    it('deploy every artifact with its bytes, nested paths included, and point current at it', async () => {
      const deployment = await installer.stage(await revision('r1', v1), objects, []);
      await installer.activate(deployment);

      expect(deployment).toMatch(/^[0-9a-f]{64}$/);
      const dir = installer.pathOf(deployment);
      for (const [path, text] of Object.entries(v1))
        expect(await readFile(join(dir, path), 'utf8')).toBe(text);
      expect(await realpath(join(dataDir, 'ostree', 'current'))).toBe(await realpath(dir));
    });

    it('record the revision as a commit on its own branch', async () => {
      const deployment = await installer.stage(await revision('r1', v1), objects, []);
      expect((await ostree('rev-parse', 'uproll/r1')).trim()).toBe(deployment);
    });

    it('leave no temporary trees or checkouts behind', async () => {
      const deployment = await installer.stage(await revision('r1', v1), objects, []);
      expect((await readdir(join(dataDir, 'ostree'))).sort()).toEqual(['deploy', 'repo']);
      expect(await readdir(join(dataDir, 'ostree', 'deploy'))).toEqual([deployment]);
    });

    it('reuse the deployment when the same revision is staged again', async () => {
      const r1 = await revision('r1', v1);
      const first = await installer.stage(r1, objects, []);
      const inode = (await stat(installer.pathOf(first))).ino;
      const again = await installer.stage(r1, objects, [first]);
      expect(again).toBe(first);
      expect((await stat(installer.pathOf(again))).ino).toBe(inode);
    });
  });

  describe('when a second revision changes one of three artifacts', () => {
    it('store the unchanged files once: both deployments hard-link the same repository object', async () => {
      const d1 = await installer.stage(await revision('r1', v1), objects, []);
      const d2 = await installer.stage(await revision('r2', v2), objects, [d1]);
      expect(d2).not.toBe(d1);

      for (const path of ['etc/app.conf', 'README']) {
        const [a, b] = await Promise.all([
          stat(join(installer.pathOf(d1), path)),
          stat(join(installer.pathOf(d2), path)),
        ]);
        expect(b.ino).toBe(a.ino);
      }
      const [a, b] = await Promise.all([
        stat(join(installer.pathOf(d1), 'bin/app')),
        stat(join(installer.pathOf(d2), 'bin/app')),
      ]);
      expect(b.ino).not.toBe(a.ino);
    });

    it('grow the repository by one file object', async () => {
      const fileObjects = async () =>
        (await readdir(join(repo(), 'objects'), { recursive: true })).filter((p) => p.endsWith('.file'))
          .length;
      const d1 = await installer.stage(await revision('r1', v1), objects, []);
      const before = await fileObjects();
      await installer.stage(await revision('r2', v2), objects, [d1]);
      expect(before).toBe(3);
      expect(await fileObjects()).toBe(before + 1);
    });
  });

  describe('when staging next to a kept deployment', () => {
    it('leave the kept deployment exactly as it was', async () => {
      const d1 = await installer.stage(await revision('r1', v1), objects, []);
      await installer.activate(d1);
      await installer.stage(await revision('r2', v2), objects, [d1]);
      await installer.stage(await revision('r3', { ...v1, README: 'new' }), objects, [d1]);

      const dir = installer.pathOf(d1);
      for (const [path, text] of Object.entries(v1))
        expect(await readFile(join(dir, path), 'utf8')).toBe(text);
      expect(await realpath(join(dataDir, 'ostree', 'current'))).toBe(await realpath(dir));
    });
  });

  describe('when activating', () => {
    it('switch current between deployments by replacing the link, and allow repeats', async () => {
      const d1 = await installer.stage(await revision('r1', v1), objects, []);
      const d2 = await installer.stage(await revision('r2', v2), objects, [d1]);
      const current = join(dataDir, 'ostree', 'current');

      for (const deployment of [d1, d2, d2, d1]) {
        await installer.activate(deployment);
        expect((await lstat(current)).isSymbolicLink()).toBe(true);
        expect(await readFile(join(current, 'bin/app'), 'utf8')).toBe(
          deployment === d1 ? 'app v1' : 'app v2',
        );
      }
      expect((await readdir(join(dataDir, 'ostree'))).sort()).toEqual(['current', 'deploy', 'repo']);
    });

    it('refuse a deployment that was never staged', async () => {
      await expect(installer.activate('0'.repeat(64))).rejects.toThrowWithCode('INSTALL_FAILED');
    });

    it('refuse a name that is not a commit checksum', () => {
      expect(() => installer.pathOf('../repo')).toThrowWithCode('INVALID_INPUT');
    });
  });

  describe('when pruning', () => {
    it('remove the deployments not kept, and their commits and branches', async () => {
      const d1 = await installer.stage(await revision('r1', v1), objects, []);
      const d2 = await installer.stage(await revision('r2', v2), objects, [d1]);

      await installer.prune([d2]);

      expect(await readdir(join(dataDir, 'ostree', 'deploy'))).toEqual([d2]);
      expect((await ostree('refs')).trim().split('\n')).toEqual(['uproll/r2']);
      await expect(ostree('log', d1)).rejects.toThrow(/No such metadata object/);
      expect(await ostree('log', d2)).toContain('r2');
    });

    it('free the objects only the dropped commit used, and keep the shared ones', async () => {
      const d1 = await installer.stage(await revision('r1', v1), objects, []);
      const d2 = await installer.stage(await revision('r2', v2), objects, [d1]);

      await installer.prune([d2]);

      expect(await ostree('fsck')).toContain('Verifying content integrity of 1 commit objects');
      const files = (await readdir(join(repo(), 'objects'), { recursive: true })).filter((p) =>
        p.endsWith('.file'),
      );
      expect(files).toHaveLength(3);
    });
  });

  describe('when an object was damaged after download', () => {
    it('fail with HASH_MISMATCH and leave no deployment or branch', async () => {
      const r1 = await revision('r1', v1);
      const damaged = r1.artifacts.find((a) => a.path === 'etc/app.conf');
      await writeFile(objects.pathOf(damaged?.sha256 ?? ''), 'port=81'); // same length, other bytes

      await expect(installer.stage(r1, objects, [])).rejects.toThrowWithCode('HASH_MISMATCH');

      expect(await readdir(join(dataDir, 'ostree', 'deploy'))).toEqual([]);
      expect((await readdir(join(dataDir, 'ostree'))).sort()).toEqual(['deploy', 'repo']);
      expect((await ostree('refs')).trim()).toBe('');
    });
  });

  describe('when the revision names an OSTree commit for the OS', () => {
    it('refuse it with REVISION_UNSUPPORTED rather than deploy its files without the OS', async () => {
      const r1 = { ...(await revision('r1', v1)), ostree: { commit: 'c'.repeat(64) } };
      await expect(installer.stage(r1, objects, [])).rejects.toThrowWithCode('REVISION_UNSUPPORTED');
      expect(await readdir(join(dataDir, 'ostree')).catch(() => [])).toEqual([]);
    });
  });
});
