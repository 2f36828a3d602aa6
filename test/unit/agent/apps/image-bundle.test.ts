import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractLayer, ObjectStore, prepareBundle } from '../../../../agent/index.ts';
import { appSchema, type App } from '../../../../core/index.ts';
import type { OciImage } from '../../../../services/image-repo/index.ts';
import { busyboxImage, imageOfLayers } from '../../../helpers/oci-image.ts';
import { tarOf, type TarMember } from '../../../helpers/tar-builder.ts';

let root: string;
let objects: ObjectStore;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'uproll-bundle-'));
  objects = new ObjectStore(join(root, 'device'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

const appOf = (image: OciImage): App =>
  appSchema.parse({
    name: 'web',
    image: { manifest: image.manifest },
    blobs: image.blobs.map((b) => ({ sha256: b.sha256, length: b.bytes.byteLength })),
  });
async function store(image: OciImage) {
  for (const blob of image.blobs)
    await objects.put(
      { path: blob.sha256, sha256: blob.sha256, length: blob.bytes.byteLength },
      Readable.from([blob.bytes]),
    );
}
const appsDir = () => join(root, 'device', 'apps');

describe('an app image unpacked on the device', () => {
  it('becomes a bundle rootfs with busybox and its links, reused for the same image', async () => {
    const image = await busyboxImage(join(root, 'layout'), 'v1', {
      files: { 'app/version': '1.0\n' },
      cmd: ['/bin/cat', '/app/version'],
    });
    await store(image);
    const bundle = await prepareBundle(appOf(image), objects, appsDir());
    expect(bundle.rootfs).toBe(join(appsDir(), 'bundles', image.manifest, 'rootfs'));
    expect(await readFile(join(bundle.rootfs, 'app', 'version'), 'utf8')).toBe('1.0\n');
    expect(await readlink(join(bundle.rootfs, 'bin', 'sh'))).toBe('/bin/busybox');
    expect(bundle.config.config?.Cmd).toEqual(['/bin/cat', '/app/version']);
    await writeFile(join(bundle.rootfs, 'marker'), 'kept');
    await prepareBundle(appOf(image), objects, appsDir());
    expect(await readFile(join(bundle.rootfs, 'marker'), 'utf8')).toBe('kept'); // not unpacked again
  });

  it('is refused when a layer object has wrong bytes, before anything is unpacked', async () => {
    const image = await busyboxImage(join(root, 'layout'), 'v1', { cmd: ['/bin/true'] });
    await store(image);
    const layer = image.blobs.at(-1)!; // umoci lists manifest, config, then the layer
    const damaged = Buffer.from(layer.bytes);
    damaged.writeUInt8(damaged.readUInt8(damaged.length - 100) ^ 0xff, damaged.length - 100);
    await writeFile(objects.pathOf(layer.sha256), damaged); // a storage fault, or tampering on the device
    await expect(prepareBundle(appOf(image), objects, appsDir())).rejects.toThrowWithCode('HASH_MISMATCH');
    expect(await readdir(join(appsDir(), 'bundles')).catch(() => [])).toEqual([]);
  });
});

describe('a layer tar entry that would land outside the rootfs', () => {
  let rootfs: string;
  let outside: string;
  beforeEach(async () => {
    rootfs = join(root, 'rootfs');
    outside = join(root, 'outside');
    await mkdir(rootfs);
    await mkdir(outside);
  });

  // Functions of the temp root: it only exists once each test runs.
  const hostile: [string, (root: string) => TarMember[]][] = [
    ['climbing out with ..', () => [{ name: '../outside/evil', body: 'x' }]],
    ['climbing out with .. in the middle', () => [{ name: 'etc/../../outside/evil', body: 'x' }]],
    ['an absolute path', (root) => [{ name: `${root}/outside/evil`, body: 'x' }]],
    [
      'a file through a symlink to the outside',
      () => [
        { name: 'escape', type: 'symlink', linkName: '../outside' },
        { name: 'escape/evil', body: 'x' },
      ],
    ],
    [
      'a file through an absolute symlink',
      (root) => [
        { name: 'escape', type: 'symlink', linkName: `${root}/outside` },
        { name: 'escape/evil', body: 'x' },
      ],
    ],
    [
      'a hard link to a file outside',
      () => [{ name: 'evil', type: 'hardlink', linkName: '../outside/secret' }],
    ],
  ];
  it.each(hostile)('is refused: %s', async (_, members) => {
    await writeFile(join(outside, 'secret'), 'secret');
    await expect(extractLayer(tarOf(members(root)), rootfs)).rejects.toThrowWithCode('LAYER_UNSAFE');
    expect(await readdir(outside)).toEqual(['secret']);
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('secret');
  });

  it('is not confused with a symlink that merely points outside: it is made, never followed', async () => {
    await extractLayer(tarOf([{ name: 'etc/link', type: 'symlink', linkName: '/etc/passwd' }]), rootfs);
    expect((await lstat(join(rootfs, 'etc', 'link'))).isSymbolicLink()).toBe(true);
  });

  it('is refused through the whole unpack too, leaving no bundle', async () => {
    const image = imageOfLayers([tarOf([{ name: '../../evil', body: 'x' }])]);
    await store(image);
    await expect(prepareBundle(appOf(image), objects, appsDir())).rejects.toThrowWithCode('LAYER_UNSAFE');
    expect(await readdir(join(appsDir(), 'bundles'))).toEqual([]);
    expect(await readdir(root)).not.toContain('evil');
  });
});
