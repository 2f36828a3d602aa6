import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OstreeSystemInstaller } from '../../agent/index.ts';
import { main as cli } from '../../cli/main.ts';
import { ImageOstreeRepo } from '../../services/image-repo/index.ts';
import { captureIo } from '../cli-io.ts';
import { eventually } from '../helpers/eventually.ts';
import { createLoopMount, type LoopMount } from '../helpers/loop-sysroot.ts';
import { randomFiles, writeOsTree } from '../helpers/os-tree.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

// The rollout engine (real Temporal, NATS, Director) drives real agents whose installer
// deploys OSTree commits into sysroots on a loop-mounted ext4 (never the root file system:
// `ostree admin deploy` freezes the file system holding /boot).
const OS = 'uproll';
let disk: LoopMount | undefined;
let h: Harness | undefined;
const devices: { id: string; installer: OstreeSystemInstaller }[] = [];

beforeAll(async () => {
  disk = await createLoopMount();
  h = await startHarness();
  await h.startWorker();
  for (const id of [uniqueId('ostree-a'), uniqueId('ostree-b')]) {
    const sysroot = await disk.sysroot(OS);
    await h.startAgent(id, { ostree: { sysroot, os: OS } });
    // A second view of the same sysroot, to read its deployments.
    devices.push({
      id,
      installer: new OstreeSystemInstaller({ sysroot, os: OS, remoteUrl: 'http://unused/' }),
    });
  }
}, 120_000);
afterAll(async () => {
  await h?.close(); // the agents first: nothing may run in the sysroots when they are unmounted
  await disk?.remove();
});

const files = randomFiles(40, 32 * 1024);
let releaseCounter = 0;

/** Commits a tree into the Image repository's OSTree repository and publishes a revision naming it. */
async function releaseTree(motd: string, changed: Record<string, Uint8Array> = {}) {
  const revision = uniqueId('os');
  const tree = join(h!.repos.image.dir, '..', `tree-${revision}`);
  await writeOsTree(tree, { motd, files: { ...files, ...changed } });
  const commit = await new ImageOstreeRepo(h!.repos.image.dir).commitTree(tree, { subject: revision });
  await h!.repos.publish(revision, [], { ostree: { commit }, releaseCounter: ++releaseCounter });
  return { revision, commit };
}

async function rollOut(revision: string): Promise<string> {
  const rolloutId = uniqueId('ro');
  const handle = await h!.startRollout({
    rolloutId,
    revision,
    target: { devices: devices.map((d) => d.id) },
    policy: { canary: 1 },
  });
  expect(await handle.result()).toMatchObject({
    status: 'completed',
    counts: { committed: devices.length, rolledBack: 0, failed: 0 },
  });
  return rolloutId;
}

const deployed = async () =>
  Promise.all(devices.map(async (d) => (await d.installer.deployments()).map((x) => x.checksum)));

describe('a staged rollout of OSTree commits to agents with OSTree system deployments', () => {
  it('deploys each release on every device, the next one for a fraction of the bytes, and rolls back after the end', async () => {
    const first = await releaseTree('one');
    h!.proxy.reset();
    await rollOut(first.revision);
    expect(await deployed()).toEqual([[first.commit], [first.commit]]);
    const wholeTree = h!.proxy.stats.ostreeBytes;

    h!.proxy.reset();
    const second = await releaseTree('one', randomFiles(1, 32 * 1024)); // one file changed
    const rolloutId = await rollOut(second.revision);
    expect(await deployed()).toEqual([
      [second.commit, first.commit],
      [second.commit, first.commit],
    ]);
    expect(h!.proxy.stats.ostreeBytes * 10).toBeLessThan(wholeTree);

    const io = captureIo();
    const status = await cli(
      ['rollout', 'rollback', rolloutId, '--by', 'rm-alice', '--state-dir', h!.stateDir],
      io,
    );
    expect(status, io.stdout() + io.stderr()).toBe(0);
    await eventually('every device back on the first commit', async () => {
      const now = await deployed();
      return now.every((list) => list.length === 1 && list[0] === first.commit) && now;
    });
  });

  it('pauses on a security alert when the OSTree repository serves another commit, deploying nothing', async () => {
    const before = await deployed();
    const { revision, commit } = await releaseTree('swapped');
    // Someone who can write the OSTree repository swaps the commit object for another one.
    const repo = new ImageOstreeRepo(h!.repos.image.dir);
    const other = join(h!.repos.image.dir, '..', 'tree-evil');
    await writeOsTree(other, { motd: 'evil' });
    const evil = await repo.commitTree(other, { subject: 'evil' });
    const objectOf = (c: string) => join(repo.dir, 'objects', c.slice(0, 2), `${c.slice(2)}.commit`);
    await writeFile(objectOf(commit), await readFile(objectOf(evil)));

    const rolloutId = uniqueId('ro');
    await h!.startRollout({
      rolloutId,
      revision,
      target: { devices: devices.map((d) => d.id) },
      policy: { canary: 1 },
    });
    const alert = await eventually('a security alert on the rollout', async () =>
      (await h!.eventLog.read('rollout', rolloutId))
        .map(({ event }) => event)
        .find((event) => event.type === 'rollout.security.alert'),
    );
    expect(alert.data).toMatchObject({ error: { code: 'OSTREE_COMMIT_MISMATCH' } });
    expect(await deployed()).toEqual(before);

    const io = captureIo();
    const status = await cli(
      ['rollout', 'abort', rolloutId, '--by', 'rm-alice', '--state-dir', h!.stateDir],
      io,
    );
    expect(status, io.stdout() + io.stderr()).toBe(0);
  });
});
