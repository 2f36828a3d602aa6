import { lstat, mkdir, mkdtemp, readFile, readlink, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractLayer } from '../../../agent/index.ts';
import { readOciLayout } from '../../../services/image-repo/index.ts';
import { busyboxLayer, scriptLayer, writeOciLayout } from '../../../sim/index.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uproll-oci-layout-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('an OCI image layout the demo writes itself', () => {
  it('is read back by tag with every blob checked, and a layer two images share is one blob', async () => {
    const busybox = join(dir, 'busybox');
    await writeFile(busybox, 'not really busybox');
    const base = await busyboxLayer(busybox);
    const layout = join(dir, 'layout');
    await writeOciLayout(layout, [
      { tag: 'web-1.0', layers: [base, scriptLayer('echo web 1.0')], cmd: ['/app/run'] },
      { tag: 'web-2.0', layers: [base, scriptLayer('echo web 2.0')], cmd: ['/app/run'] },
    ]);

    const [v1, v2] = [await readOciLayout(layout, 'web-1.0'), await readOciLayout(layout, 'web-2.0')];
    expect(v1.manifest).not.toBe(v2.manifest);
    expect(v1.blobs).toHaveLength(4); // manifest, config, two layers
    const shared = v1.blobs.filter((blob) => v2.blobs.some((other) => other.sha256 === blob.sha256));
    expect(shared.map((blob) => Buffer.from(blob.bytes))).toEqual([base]);
    // 2 manifests + 2 configs + 2 script layers + 1 busybox layer
    expect(await readdir(join(layout, 'blobs', 'sha256'))).toHaveLength(7);
  });

  it("has layers the agent's unpacker turns into busybox, its applet links and the app's script", async () => {
    const busybox = join(dir, 'busybox');
    await writeFile(busybox, 'not really busybox');
    const rootfs = join(dir, 'rootfs');
    await mkdir(rootfs);
    await extractLayer(await busyboxLayer(busybox), rootfs);
    await extractLayer(scriptLayer('echo "web 2.0"'), rootfs);

    expect(await readFile(join(rootfs, 'bin', 'busybox'), 'utf8')).toBe('not really busybox');
    expect((await lstat(join(rootfs, 'bin', 'busybox'))).mode & 0o777).toBe(0o755);
    expect(await readlink(join(rootfs, 'bin', 'sh'))).toBe('busybox');
    expect(await readlink(join(rootfs, 'bin', 'sleep'))).toBe('busybox');
    expect(await readFile(join(rootfs, 'app', 'run'), 'utf8')).toBe('#!/bin/sh\necho "web 2.0"\n');
    expect((await lstat(join(rootfs, 'app', 'run'))).mode & 0o777).toBe(0o755);
  });
});
