import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeEach, describe, expect, it } from 'vitest';
import type { StateRevision } from '../../../core/index.ts';
import { keyCli, ONLINE_ENV } from '../../helpers/key-cli.ts';
import { writeOsTree } from '../../helpers/os-tree.ts';

const exec = promisify(execFile);

let cli: Awaited<ReturnType<typeof keyCli>>;
beforeEach(async () => {
  cli = await keyCli();
  expect((await cli.init()).status).toBe(0);
}, 30_000);

const releaseOstree = (name: string, ...source: string[]) =>
  cli.run(
    ...['release', 'ostree', name, ...source, '--hardware-id', 'rpi4', '--release-counter', '1'],
    ...['--passphrase-env', ONLINE_ENV, '--json'],
  );
const ostreeRepo = () => join(cli.stateDir, 'image-repo', 'ostree');
const revParse = async (repo: string, ref: string) =>
  (await exec('ostree', ['rev-parse', `--repo=${repo}`, ref])).stdout.trim();
const auditTypes = async () =>
  (await readFile(join(cli.stateDir, 'audit-outbox.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { event: { type: string; data: { ostree?: unknown } } }).event)
    .filter((event) => event.type === 'repository.revision.published');

// Each test creates a key store and runs ostree: more than the default 5 s on a loaded machine.
describe('uproll release ostree', { timeout: 30_000 }, () => {
  it('commits a tree into the Image repository OSTree repo and publishes a revision naming it, audited', async () => {
    const tree = join(cli.stateDir, 'tree');
    await writeOsTree(tree, { motd: 'one' });
    const published = await releaseOstree('os-1', '--tree', tree);
    expect(published.status, published.stderr).toBe(0);
    const { revision, commit, ref } = JSON.parse(published.stdout) as {
      revision: StateRevision;
      commit: string;
      ref: string;
    };
    expect(revision).toMatchObject({ name: 'os-1', artifacts: [], ostree: { commit, ref: 'uproll/rpi4' } });
    expect(await revParse(ostreeRepo(), ref)).toBe(commit);
    const served = await readFile(join(ostreeRepo(), 'config'), 'utf8');
    expect(served).toContain('mode=archive');
    expect(await auditTypes()).toEqual([
      expect.objectContaining({ data: expect.objectContaining({ ostree: { commit, ref } }) as object }),
    ]);
  });

  it('publishing the same tree again changes nothing; another tree under the name is REVISION_EXISTS', async () => {
    const tree = join(cli.stateDir, 'tree');
    await writeOsTree(tree, { motd: 'one' });
    const first = JSON.parse((await releaseOstree('os-1', '--tree', tree)).stdout) as { commit: string };
    const again = await releaseOstree('os-1', '--tree', tree);
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ alreadyPublished: true, commit: first.commit });

    await writeFile(join(tree, 'usr', 'etc', 'motd'), 'two\n');
    const other = await releaseOstree('os-1', '--tree', tree);
    expect(other).toMatchObject({ status: 1, stderr: expect.stringContaining('REVISION_EXISTS') as string });
    expect(await revParse(ostreeRepo(), 'uproll/rpi4')).toBe(first.commit);
    expect(await auditTypes()).toHaveLength(1);
  });

  it('imports a commit from another local repository', async () => {
    const elsewhere = join(cli.stateDir, 'build-repo');
    const tree = join(cli.stateDir, 'tree');
    await writeOsTree(tree, { motd: 'built elsewhere' });
    await exec('ostree', ['init', `--repo=${elsewhere}`, '--mode=archive']);
    const built = (
      await exec('ostree', ['commit', `--repo=${elsewhere}`, '--branch=os/main', `--tree=dir=${tree}`])
    ).stdout.trim();

    const published = await releaseOstree('os-1', '--from-repo', elsewhere, '--commit', 'os/main');
    expect(published.status, published.stderr).toBe(0);
    expect(JSON.parse(published.stdout)).toMatchObject({
      commit: built,
      revision: { ostree: { commit: built } },
    });
    expect(await revParse(ostreeRepo(), built)).toBe(built);
  });

  it('refuses a tree that ostree admin deploy could not deploy, publishing nothing', async () => {
    const tree = join(cli.stateDir, 'tree');
    await writeOsTree(tree, { motd: 'one' });
    await writeFile(join(tree, 'usr', 'lib', 'os-release'), 'VERSION=1\n');
    const timestamp = (await cli.metadata('timestamp.json')).version;
    const refused = await releaseOstree('os-1', '--tree', tree);
    expect(refused).toMatchObject({ status: 1, stderr: expect.stringContaining('INVALID_INPUT') as string });
    expect(refused.stderr).toContain('with ID or PRETTY_NAME');
    expect((await cli.metadata('timestamp.json')).version).toBe(timestamp);
  });

  it('is a usage error without exactly one source of the commit', async () => {
    expect((await releaseOstree('os-1')).status).toBe(2);
    expect((await releaseOstree('os-1', '--tree', 'a', '--from-repo', 'b', '--commit', 'c')).status).toBe(2);
  });
});
