import { createHash } from 'node:crypto';
import { copyFile, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { readOciLayout, type OciImage } from '../../services/image-repo/index.ts';
import { tool } from './device-tools.ts';

const BUSYBOX = '/bin/busybox';

/**
 * Builds a busybox image tagged `tag` in the OCI layout `layout` with umoci
 * (no registry), with `files` added to its rootfs, `cmd` as its Cmd and
 * `user` as its User, and reads it back as the blobs a release publishes.
 */
export async function busyboxImage(
  layout: string,
  tag: string,
  options: { files?: Record<string, string>; cmd: string[]; user?: string },
): Promise<OciImage> {
  if (!(await stat(BUSYBOX).catch(() => undefined)))
    throw new Error('this test needs a static busybox at /bin/busybox (Debian package busybox-static)');
  if (!(await stat(join(layout, 'index.json')).catch(() => undefined)))
    await tool('umoci', ['init', '--layout', layout]);
  await tool('umoci', ['new', '--image', `${layout}:${tag}`]);
  const bundle = `${layout}.bundle-${tag}`;
  await rm(bundle, { recursive: true, force: true });
  try {
    await tool('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle]);
    const rootfs = join(bundle, 'rootfs');
    await mkdir(join(rootfs, 'bin'), { recursive: true });
    await copyFile(BUSYBOX, join(rootfs, 'bin', 'busybox'));
    await tool('chroot', [rootfs, '/bin/busybox', '--install', '-s', '/bin']);
    for (const [path, content] of Object.entries(options.files ?? {})) {
      await mkdir(dirname(join(rootfs, path)), { recursive: true });
      await writeFile(join(rootfs, path), content, { mode: 0o755 });
    }
    await tool('umoci', ['repack', '--image', `${layout}:${tag}`, bundle]);
  } finally {
    await rm(bundle, { recursive: true, force: true });
  }
  await tool('umoci', [
    'config',
    '--image',
    `${layout}:${tag}`,
    ...options.cmd.flatMap((arg) => ['--config.cmd', arg]),
    ...(options.user === undefined ? [] : ['--config.user', options.user]),
  ]);
  return readOciLayout(layout, tag);
}

/**
 * An image made by hand from layer tars (hostile layers, say), uncompressed
 * unless `gzip` says they are gzipped already, as a release publishes it.
 */
export function imageOfLayers(
  layers: readonly Buffer[],
  cmd: string[] = ['/bin/true'],
  options: { gzip?: boolean } = {},
): OciImage {
  const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
  const config = Buffer.from(JSON.stringify({ config: { Cmd: cmd } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: `sha256:${sha256(config)}`,
        size: config.length,
      },
      layers: layers.map((layer) => ({
        mediaType: `application/vnd.oci.image.layer.v1.tar${options.gzip ? '+gzip' : ''}`,
        digest: `sha256:${sha256(layer)}`,
        size: layer.length,
      })),
    }),
  );
  return {
    manifest: sha256(manifest),
    blobs: [manifest, config, ...layers].map((bytes) => ({ sha256: sha256(bytes), bytes })),
  };
}
