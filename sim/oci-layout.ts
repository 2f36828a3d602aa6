import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OCI_CONFIG_TYPE, OCI_MANIFEST_TYPE } from '../core/index.ts';
import { ustarOf } from './tar-archive.ts';

const LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar';
const REF_NAME = 'org.opencontainers.image.ref.name';
/** OCI names of Node's architectures (the busybox copied in is the host's). */
const OCI_ARCH: Partial<Record<string, string>> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  riscv64: 'riscv64',
};

/** An image to write into a layout: uncompressed layer tars, bottom first, and how it runs. */
export interface LayoutImage {
  tag: string;
  layers: readonly Buffer[];
  cmd: readonly string[];
}

/**
 * Writes `images` as an OCI image layout in `dir` (no registry, no tools):
 * every blob under `blobs/sha256/` by its digest (a layer two images share
 * is written once), and `index.json` naming each manifest by its tag.
 */
export async function writeOciLayout(dir: string, images: readonly LayoutImage[]): Promise<void> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const blob = async (bytes: Buffer, mediaType: string) => {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await writeFile(join(blobs, sha256), bytes);
    return { mediaType, digest: `sha256:${sha256}`, size: bytes.byteLength };
  };
  const manifests = [];
  for (const image of images) {
    const layers = [];
    for (const layer of image.layers) layers.push(await blob(layer, LAYER_TYPE));
    const config = {
      architecture: OCI_ARCH[process.arch] ?? process.arch,
      os: 'linux',
      config: { Cmd: image.cmd, Env: ['PATH=/bin'] },
      // Uncompressed layers: each diff id is the layer's own digest.
      rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.digest) },
    };
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST_TYPE,
      config: await blob(Buffer.from(JSON.stringify(config)), OCI_CONFIG_TYPE),
      layers,
    };
    const descriptor = await blob(Buffer.from(JSON.stringify(manifest)), OCI_MANIFEST_TYPE);
    manifests.push({ ...descriptor, annotations: { [REF_NAME]: image.tag } });
  }
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));
}

/** A base layer: a static busybox as `/bin/busybox`, with `sh` and `sleep` linked to it. */
export async function busyboxLayer(busybox: string): Promise<Buffer> {
  return ustarOf([
    { name: 'bin', type: 'directory' },
    { name: 'bin/busybox', type: 'file', body: await readFile(busybox), mode: 0o755 },
    ...['sh', 'sleep'].map((applet) => ({
      name: `bin/${applet}`,
      type: 'symlink' as const,
      target: 'busybox',
    })),
  ]);
}

/** A layer holding one shell script, `/app/run`. */
export function scriptLayer(script: string): Buffer {
  return ustarOf([
    { name: 'app', type: 'directory' },
    { name: 'app/run', type: 'file', body: Buffer.from(`#!/bin/sh\n${script}\n`), mode: 0o755 },
  ]);
}
