import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractLayer, ObjectStore, prepareBundle } from '../../../../agent/index.ts';
import { appSchema } from '../../../../core/index.ts';
import type { OciImage } from '../../../../services/image-repo/index.ts';
import { imageOfLayers } from '../../../helpers/oci-image.ts';
import { tarHeaderOf, tarOf, tarPaddingOf } from '../../../helpers/tar-builder.ts';

const MiB = 1024 * 1024;
const FILES = 16;
const FILE_BYTES = 16 * MiB;
const LAYER_BYTES = FILES * FILE_BYTES;

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'uproll-layer-stream-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

/** The device's object store holding `image`, and an app that runs it. */
async function stored(image: OciImage) {
  const objects = new ObjectStore(join(root, 'device'));
  for (const blob of image.blobs)
    await objects.put(
      { path: blob.sha256, sha256: blob.sha256, length: blob.bytes.byteLength },
      Readable.from([blob.bytes]),
    );
  const app = appSchema.parse({
    name: 'layered',
    image: { manifest: image.manifest },
    blobs: image.blobs.map((b) => ({ sha256: b.sha256, length: b.bytes.byteLength })),
  });
  return { objects, app };
}

/** A gzipped layer of FILES files of FILE_BYTES zeros, made without ever holding its tar in memory. */
async function bigGzipLayer(): Promise<Buffer> {
  const zeros = Buffer.alloc(MiB);
  function* tar() {
    for (let i = 0; i < FILES; i++) {
      yield tarHeaderOf({ name: `data/file${i}` }, FILE_BYTES);
      for (let left = FILE_BYTES; left > 0; left -= MiB) yield zeros;
      yield tarPaddingOf(FILE_BYTES);
    }
    yield Buffer.alloc(1024);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of Readable.from(tar()).pipe(createGzip())) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks); // some 256 KiB: zeros compress well
}

describe('a large layer', () => {
  // Writes 256 MiB to the temp dir.
  it(
    'is unpacked by streaming: the process grows far less than the layer it writes',
    { timeout: 60_000 },
    async () => {
      const layer = await bigGzipLayer();
      const image = imageOfLayers([layer], ['/bin/true'], { gzip: true });
      const { objects, app } = await stored(image);

      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
      try {
        const bundle = await prepareBundle(app, objects, join(root, 'device', 'apps'));
        peak = Math.max(peak, process.memoryUsage().rss);
        for (let i = 0; i < FILES; i++)
          expect((await stat(join(bundle.rootfs, 'data', `file${i}`))).size).toBe(FILE_BYTES);
      } finally {
        clearInterval(sampler);
      }
      // An unpack in memory holds the whole 256 MiB tar, and more, at once (it grew by some 540 MiB).
      // Streamed, what remains is garbage of gunzip's output chunks, which V8 collects each
      // time it passes a fixed amount (some 64 MiB of external memory), whatever the layer's size.
      expect(peak - before).toBeLessThan(LAYER_BYTES / 2);
    },
  );
});

describe('a layer read as a stream', () => {
  const members = [
    { name: 'etc/', type: 'directory' as const },
    { name: 'etc/motd', body: 'hello\n'.repeat(300) },
    { name: `${'d'.repeat(90)}/${'f'.repeat(90)}`, body: 'long name' },
  ];
  it('unpacks the same whatever its chunks: one byte at a time, across headers and bodies', async () => {
    const rootfs = join(root, 'rootfs');
    await mkdir(rootfs);
    const tar = tarOf(members);
    await extractLayer(Readable.from([...tar].map((byte) => Buffer.of(byte))), rootfs);
    expect(await readFile(join(rootfs, 'etc', 'motd'), 'utf8')).toBe('hello\n'.repeat(300));
  });

  it('is refused with LAYER_UNSAFE when it ends inside an entry', async () => {
    const rootfs = join(root, 'rootfs');
    await mkdir(rootfs);
    const tar = tarOf(members);
    await expect(extractLayer(Readable.from([tar.subarray(0, 1024 + 700)]), rootfs)).rejects.toThrowWithCode(
      'LAYER_UNSAFE',
    );
  });

  it('is refused with LAYER_UNSAFE when its object (digest right) does not gunzip, leaving no bundle', async () => {
    const gzipped = gzipSync(tarOf(members));
    const image = imageOfLayers([gzipped.subarray(0, gzipped.length - 20)], ['/bin/true'], { gzip: true });
    const { objects, app } = await stored(image);
    const appsDir = join(root, 'device', 'apps');
    await expect(prepareBundle(app, objects, appsDir)).rejects.toThrowWithCode('LAYER_UNSAFE');
    expect(await readdir(join(appsDir, 'bundles'))).toEqual([]);
  });
});
