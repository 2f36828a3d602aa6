import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ImageOstreeRepo } from '../../../services/image-repo/index.ts';
import { startAgentRig, type AgentRig } from '../../helpers/agent-rig.ts';
import { createLoopMount, type LoopMount } from '../../helpers/loop-sysroot.ts';
import { randomFiles, writeOsTree } from '../../helpers/os-tree.ts';
import { startSysrootRig, TEST_OS, type SysrootRig } from '../../helpers/ostree-sysroot-rig.ts';

// Every sysroot of this file lives on one loop-mounted ext4: `ostree admin deploy` freezes the
// file system holding /boot, which must never be the machine's root file system.
let disk: LoopMount | undefined;
beforeAll(async () => {
  disk = await createLoopMount();
}, 60_000);
afterAll(async () => {
  await disk?.remove();
});

let s: SysrootRig | undefined;
let plain: AgentRig | undefined;
afterEach(async () => {
  await s?.rig.close();
  await plain?.close();
  s = plain = undefined;
}, 30_000);

const start = async () => (s = await startSysrootRig(disk!));
const phasesOf = (telemetry: { phase: string }[]) => telemetry.map((t) => t.phase);
const checksums = async (rig: SysrootRig) => (await rig.installer.deployments()).map((d) => d.checksum);
const deploymentDir = (rig: SysrootRig, commit: string) =>
  join(rig.sysroot, 'ostree', 'deploy', TEST_OS, 'deploy', `${commit}.0`);

// Real ostree on a loop device, the repositories over HTTP: seconds a test, more on a loaded machine.
describe('the OSTree system installer', { timeout: 60_000 }, () => {
  describe('when the Director assigns a revision naming an OSTree commit', () => {
    it('pulls the commit, deploys it with a boot entry and commits; the next one merges /etc', async () => {
      const rig = await start();
      const c1 = await rig.releaseTree('os-1', { motd: 'one' });
      const first = await rig.rig.update('os-1');
      expect(phasesOf(first.telemetry)).toEqual([
        'downloaded',
        'verified',
        'installed',
        'healthy',
        'committed',
      ]);
      expect(await checksums(rig)).toEqual([c1]);
      expect(await rig.bootEntries()).toEqual([{ order: 0, deploymentDir: deploymentDir(rig, c1) }]);
      // The device changes its configuration: the next deployment must keep it.
      await writeFile(join(deploymentDir(rig, c1), 'etc', 'local.conf'), 'set on the device\n');

      const c2 = await rig.releaseTree('os-2', { motd: 'two' });
      const second = await rig.rig.update('os-2');
      expect(second.telemetry.at(-1)).toMatchObject({ phase: 'committed', deployment: c2 });
      expect(await checksums(rig)).toEqual([c2, c1]); // the previous one stays as the rollback target
      const entries = await rig.bootEntries();
      expect(entries.map((e) => e.deploymentDir)).toEqual([deploymentDir(rig, c2), deploymentDir(rig, c1)]);
      const etc = join(deploymentDir(rig, c2), 'etc');
      expect(await readFile(join(etc, 'local.conf'), 'utf8')).toBe('set on the device\n');
      expect(await readFile(join(etc, 'motd'), 'utf8')).toBe('two\n');
      expect(await rig.rig.manager.boot.read()).toMatchObject({
        active: { revision: 'os-2', deployment: c2 },
        previous: { revision: 'os-1', deployment: c1 },
        trial: false,
      });
    });
  });

  describe('when revisions follow each other', () => {
    it('keeps two deployments, and installs one from its history again without the network', async () => {
      const rig = await start();
      const c1 = await rig.releaseTree('os-1', { motd: 'one' });
      await rig.rig.update('os-1');
      const c2 = await rig.releaseTree('os-2', { motd: 'two' });
      await rig.rig.update('os-2');
      const c3 = await rig.releaseTree('os-3', { motd: 'three' });
      await rig.rig.update('os-3');
      expect(await checksums(rig)).toEqual([c3, c2]);
      const commits = await readdir(join(rig.sysroot, 'ostree', 'repo', 'objects', c1.slice(0, 2))).catch(
        () => [],
      );
      expect(commits).not.toContain(`${c1.slice(2)}.commit`); // nothing keeps the first commit any more

      await rig.rig.proxy.close(); // offline from here
      expect(await rig.rig.manager.installFromHistory('os-2', 'back-to-2')).toMatchObject({ accepted: true });
      await rig.rig.manager.idle();
      expect(await rig.rig.manager.boot.read()).toMatchObject({
        active: { revision: 'os-2', deployment: c2 },
      });
      expect(await checksums(rig)).toEqual([c2, c3]);
      expect(await rig.bootEntries()).toEqual([
        { order: 0, deploymentDir: deploymentDir(rig, c2).replace(/\.0$/, '.1') },
        { order: 1, deploymentDir: deploymentDir(rig, c3) },
      ]);
    });
  });

  describe('when the new deployment fails its health check', () => {
    it('goes back to the previous deployment, with its own /etc, and boots it first', async () => {
      const rig = await start();
      const c1 = await rig.releaseTree('os-1', { motd: 'healthy' });
      await rig.rig.update('os-1');
      await writeFile(join(deploymentDir(rig, c1), 'etc', 'local.conf'), 'kept\n');
      await rig.releaseTree(
        'os-2',
        { motd: 'broken' },
        { health: { command: ['grep', '-q', 'healthy', 'etc/motd'] } },
      );

      const { telemetry } = await rig.rig.update('os-2');
      expect(telemetry.at(-1)).toMatchObject({
        phase: 'rolled_back',
        deployment: c1,
        error: { code: 'HEALTH_CHECK_FAILED' },
      });
      expect(await checksums(rig)).toEqual([c1]);
      expect(await rig.bootEntries()).toEqual([{ order: 0, deploymentDir: deploymentDir(rig, c1) }]);
      expect(await readFile(join(deploymentDir(rig, c1), 'etc', 'local.conf'), 'utf8')).toBe('kept\n');
      expect(await rig.rig.manager.boot.read()).toMatchObject({ active: { revision: 'os-1' }, trial: false });
    });
  });

  describe('when staging fails before the deploy', () => {
    it('leaves the running deployment first, with nothing new deployed', async () => {
      let failWrites = false;
      const rig = (s = await startSysrootRig(disk!, {
        onBoundary: (boundary) => {
          if (failWrites && boundary === 'writing') throw new Error('power lost while writing');
        },
      }));
      const c1 = await rig.releaseTree('os-1', { motd: 'one' });
      await rig.rig.update('os-1');
      await rig.releaseTree('os-2', { motd: 'two' });
      failWrites = true;

      const { telemetry } = await rig.rig.update('os-2');
      expect(telemetry.at(-1)).toMatchObject({ phase: 'failed' });
      expect(await checksums(rig)).toEqual([c1]);
    });
  });

  describe('when the agent stops after a deploy it had not recorded yet', () => {
    it('puts the deployment the boot control names first again at the next start', async () => {
      const rig = await start();
      const c1 = await rig.releaseTree('os-1', { motd: 'one' });
      await rig.rig.update('os-1');
      const c2 = await rig.releaseTree('os-2', { motd: 'two' });
      const next = {
        ...(await rig.rig.manager.history.revision('os-1'))!,
        name: 'os-2',
        ostree: { commit: c2 },
      };
      // Staged (deployed as the default), then the power went before the boot control switched.
      await rig.installer.fetch(next);
      await rig.installer.stage(next, rig.rig.manager.objects, [c1]);
      expect(await checksums(rig)).toEqual([c2, c1]);

      expect(await rig.rig.restart().recover()).toBe('idle');
      expect(await checksums(rig)).toEqual([c1]);
      expect(await rig.bootEntries()).toEqual([{ order: 0, deploymentDir: deploymentDir(rig, c1) }]);
    });
  });

  describe('when what is served does not match the verified revision', () => {
    it('refuses a commit whose checksum differs from the one the revision names, and deploys nothing', async () => {
      const rig = await start();
      const c1 = await rig.releaseTree('os-1', { motd: 'one' });
      await rig.rig.update('os-1');
      const c2 = await rig.releaseTree('os-2', { motd: 'two' });
      // Someone with write access to the OSTree repository (or on the path) swaps commit c2 for another.
      const other = join(rig.rig.root, 'other-tree');
      await writeOsTree(other, { motd: 'evil' });
      const c3 = await rig.ostreeRepo.commitTree(other, { subject: 'evil' });
      const objectOf = (c: string) =>
        join(rig.ostreeRepo.dir, 'objects', c.slice(0, 2), `${c.slice(2)}.commit`);
      await writeFile(objectOf(c2), await readFile(objectOf(c3)));

      const { telemetry } = await rig.rig.update('os-2');
      expect(telemetry.at(-1)).toMatchObject({ phase: 'failed', error: { code: 'OSTREE_COMMIT_MISMATCH' } });
      // The Director hears of the attack in the device's signed manifest.
      const manifests = (await rig.rig.manager.journal.after(0)).filter((e) => e.kind === 'manifest');
      expect(JSON.stringify(manifests.at(-1)?.body)).toContain('"attacksDetected":"OSTREE_COMMIT_MISMATCH"');
      expect(await checksums(rig)).toEqual([c1]);
      expect(await rig.bootEntries()).toHaveLength(1);
      expect(await rig.rig.manager.boot.read()).toMatchObject({ active: { revision: 'os-1' }, trial: false });
      const sysrootObjects = join(rig.sysroot, 'ostree', 'repo', 'objects', c2.slice(0, 2));
      expect(await readdir(sysrootObjects).catch(() => [])).not.toContain(`${c2.slice(2)}.commit`);
    });

    it('refuses a revision document whose commit was changed on the way: its TUF hashes pin the checksum', async () => {
      const rig = await start();
      const c1 = await rig.releaseTree('os-1', { motd: 'one' });
      await rig.rig.update('os-1');
      const c2 = await rig.releaseTree('os-2', { motd: 'two' });
      // A man in the middle rewrites the commit the document names (same length, so only the hash can tell).
      const revisions = join(rig.rig.repos.image.targetsDir, 'revisions');
      const stored = (await readdir(revisions)).find((name) => name.endsWith('.os-2.json'))!;
      const document = await readFile(join(revisions, stored), 'utf8');
      await writeFile(join(revisions, stored), document.replace(c2, c1));

      const { telemetry } = await rig.rig.update('os-2');
      expect(telemetry.at(-1)).toMatchObject({ phase: 'failed', error: { code: 'HASH_MISMATCH' } });
      expect(await checksums(rig)).toEqual([c1]);
    });

    it('refuses to deploy a commit whose stored object no longer has the checksum, deploying nothing', async () => {
      const rig = await start();
      const c1 = await rig.releaseTree('os-1', { motd: 'one' });
      await rig.rig.update('os-1');
      const c2 = await rig.releaseTree('os-2', { motd: 'two' });
      const revision = await rig.rig.manager.history.revision('os-1');
      const next = { ...revision!, name: 'os-2', ostree: { commit: c2 } };
      await rig.installer.fetch(next);
      // The device's own copy is damaged after the pull (a disk error, or someone on the device).
      const stored = join(rig.sysroot, 'ostree', 'repo', 'objects', c2.slice(0, 2), `${c2.slice(2)}.commit`);
      const local = join(rig.sysroot, 'ostree', 'repo', 'objects', c1.slice(0, 2), `${c1.slice(2)}.commit`);
      await writeFile(stored, await readFile(local));

      await expect(rig.installer.stage(next, rig.rig.manager.objects, [c1])).rejects.toThrowWithCode(
        'OSTREE_COMMIT_MISMATCH',
      );
      expect(await checksums(rig)).toEqual([c1]);
    });

    it('an A/B device refuses a revision whose OS is an OSTree commit, installing nothing', async () => {
      plain = await startAgentRig({ installer: 'ab' });
      const tree = join(plain.root, 'tree');
      await writeOsTree(tree, { motd: 'one' });
      const commit = await new ImageOstreeRepo(plain.repos.image.dir).commitTree(tree, { subject: 'x' });
      await plain.release('os-1', [], { ostree: { commit } });

      const { telemetry } = await plain.update('os-1');
      expect(telemetry.at(-1)).toMatchObject({ phase: 'failed', error: { code: 'REVISION_UNSUPPORTED' } });
      expect((await plain.manager.boot.read()).active).toBeNull();
    });
  });

  describe('when one file of the tree changes', () => {
    it('pulls only the objects of that file: far fewer bytes than the whole tree', async () => {
      const rig = await start();
      const size = 32 * 1024;
      const files = randomFiles(40, size);
      await rig.releaseTree('os-1', { motd: 'one', files });
      await rig.rig.update('os-1');
      const whole = rig.rig.proxy.stats.ostreeBytes;
      rig.rig.proxy.reset();

      await rig.releaseTree('os-2', { motd: 'one', files: { ...files, ...randomFiles(1, size) } });
      const { telemetry } = await rig.rig.update('os-2');
      expect(telemetry.at(-1)).toMatchObject({ phase: 'committed' });
      const delta = rig.rig.proxy.stats.ostreeBytes;
      expect(whole).toBeGreaterThan(40 * size); // random bytes do not compress
      expect(delta).toBeGreaterThanOrEqual(size); // the changed file itself
      expect(delta * 10).toBeLessThan(whole);
      expect(telemetry.find((t) => t.phase === 'downloaded')?.bytes).toBeGreaterThan(0);
    });
  });
});
