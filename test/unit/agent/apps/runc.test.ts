import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Runc, runtimeSpec } from '../../../../agent/index.ts';
import { appSchema } from '../../../../core/index.ts';
import { OCI_RUNTIMES } from '../../../helpers/device-tools.ts';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'uproll-runc-'));
  await mkdir(join(root, 'rootfs', 'bin'), { recursive: true });
  await copyFile('/bin/busybox', join(root, 'rootfs', 'bin', 'busybox'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

/** A bundle directory whose container runs `command` with busybox. */
async function bundleOf(name: string, command: string[]): Promise<string> {
  const sha = 'a'.repeat(64);
  const app = appSchema.parse({
    name,
    image: { manifest: sha },
    blobs: [
      { sha256: sha, length: 1 },
      { sha256: 'b'.repeat(64), length: 1 },
    ],
    command,
  });
  const dir = join(root, name);
  await mkdir(dir);
  const spec = { ...runtimeSpec(app, {}, new Map()), root: { path: join(root, 'rootfs'), readonly: true } };
  await writeFile(join(dir, 'config.json'), JSON.stringify(spec));
  return dir;
}

describe.each(OCI_RUNTIMES)('containers run by %s', { timeout: 60_000 }, (_, command) => {
  it('an ended container is stopped with its exit code, until it is deleted', async () => {
    const runc = new Runc(join(root, 'state'), command);
    const { exited } = await runc.run(
      'ends',
      await bundleOf('ends', ['/bin/busybox', 'sh', '-c', 'exit 5']),
      join(root, 'ends.log'),
    );
    expect(await exited).toBe(5);
    expect(await runc.state('ends')).toMatchObject({ status: 'stopped', exitCode: 5 });
    expect(await runc.list()).toEqual(['ends']);
    await runc.delete('ends');
    expect(await runc.state('ends')).toBeUndefined();
  });

  it("keeps the runtime's own messages out of the app's output", async () => {
    // As runc does when a cgroup outlives the container: a warning on its log, by default stderr.
    const warnOnLog = [
      'log=/dev/stderr; prev=; for a in "$@"; do [ "$prev" = --log ] && log=$a; prev=$a; done',
      `echo 'level=warning msg="Failed to remove cgroup (will retry)"' >>"$log"`,
      'exec "$@"',
    ].join('\n');
    const runc = new Runc(join(root, 'state'), ['sh', '-c', warnOnLog, 'sh', ...command]);
    const log = join(root, 'says.log');
    const { exited } = await runc.run(
      'says',
      await bundleOf('says', ['/bin/busybox', 'echo', 'app says hi']),
      log,
    );
    expect(await exited).toBe(0);
    expect(await readFile(log, 'utf8')).toBe('app says hi\n');
  });

  it('a running container deleted stays gone, though its exit recorder writes after the delete', async () => {
    const runc = new Runc(join(root, 'state'), command);
    const bundle = await bundleOf('runs', ['/bin/busybox', 'sleep', '3600']);
    // The recorder writes once the runtime returns, which may be after delete() has cleaned up: tried a few times.
    for (let round = 0; round < 3; round++) {
      const { exited } = await runc.run('runs', bundle, join(root, 'runs.log'));
      expect(await runc.state('runs')).toMatchObject({ status: 'running' });
      await runc.delete('runs');
      await exited; // the recorder has written by now
      expect(await runc.state('runs')).toBeUndefined();
      expect(await runc.list()).toEqual([]);
    }
  });
});
