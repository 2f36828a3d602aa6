import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  appBlobLabel,
  MAX_OCI_CONFIG_BYTES,
  MAX_OCI_MANIFEST_BYTES,
  OCI_LAYER_TYPES,
  ociConfigSchema,
  ociManifestSchema,
  parseJson,
  sha256Of,
  UprollError,
  type App,
  type OciConfig,
  type RevisionArtifact,
} from '../../core/index.ts';
import { syncDirectory } from '../../adapters/fs/index.ts';
import type { ObjectStore } from '../object-store.ts';
import { extractLayer } from './layer-extract.ts';
import { layerStream } from './layer-stream.ts';

/**
 * Uncompressed size cap of one layer, so a gzip bomb stops there rather
 * than at a full disk. Memory does not depend on it: layers are streamed.
 */
export const MAX_UNPACKED_LAYER_BYTES = 2 ** 34;

/** An unpacked image: its bundle directory (with `rootfs/`) and the image config that says how to run it. */
export interface ImageBundle {
  dir: string;
  rootfs: string;
  config: OciConfig;
}

/**
 * The bundle of an app's image under `<appsDir>/bundles/<manifest sha256>`,
 * unpacked once per image and reused by every app and revision that runs
 * it. The manifest, the config and every layer are checked against their
 * digest (and against the blob list the verified revision names) before
 * the first byte is extracted; the rootfs is built beside its final place
 * and renamed there whole, so a crash leaves no half bundle in use.
 */
export async function prepareBundle(app: App, objects: ObjectStore, appsDir: string): Promise<ImageBundle> {
  const dir = join(appsDir, 'bundles', app.image.manifest);
  const rootfs = join(dir, 'rootfs');
  const manifestBytes = await readBlob(app, app.image.manifest, objects, MAX_OCI_MANIFEST_BYTES);
  const manifest = parseJson(ociManifestSchema, manifestBytes, {
    maxBytes: MAX_OCI_MANIFEST_BYTES,
    what: `the image manifest of app ${app.name}`,
  });
  const configBytes = await readBlob(app, sha256Of(manifest.config.digest), objects, MAX_OCI_CONFIG_BYTES);
  const config = parseJson(ociConfigSchema, configBytes, {
    maxBytes: MAX_OCI_CONFIG_BYTES,
    what: `the image config of app ${app.name}`,
  });
  if (await stat(join(dir, 'complete')).catch(() => undefined)) return { dir, rootfs, config };

  // Every layer object is checked first (streamed, not held): a bad one stops the unpack before anything is written.
  const layers: { artifact: RevisionArtifact; gzip: boolean }[] = [];
  for (const layer of manifest.layers) {
    const artifact = listedBlob(app, sha256Of(layer.digest), layer.size);
    await stat(objects.pathOf(artifact.sha256)).catch(() => {
      throw new UprollError(
        'APP_START_FAILED',
        `app ${app.name}: blob ${artifact.sha256} is not on the device`,
      );
    });
    await objects.check(artifact);
    layers.push({ artifact, gzip: OCI_LAYER_TYPES[layer.mediaType] === 'gzip' });
  }
  const partial = join(appsDir, 'bundles', `${app.image.manifest}.partial-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(join(partial, 'rootfs'), { recursive: true, mode: 0o755 });
    for (const { artifact, gzip } of layers) {
      const layer = layerStream(objects.pathOf(artifact.sha256), artifact, {
        gzip,
        maxUnpacked: MAX_UNPACKED_LAYER_BYTES,
        what: `app ${app.name}: layer ${artifact.sha256}`,
      });
      try {
        await extractLayer(layer.tar, join(partial, 'rootfs'));
        await layer.finish();
      } finally {
        await layer.close();
      }
    }
    await writeFile(join(partial, 'complete'), `${app.image.manifest}\n`);
    await rm(dir, { recursive: true, force: true }); // an incomplete bundle of an earlier attempt
    await rename(partial, dir);
    await syncDirectory(join(appsDir, 'bundles'));
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw err;
  }
  return { dir, rootfs, config };
}

/** The blob `sha256` as the revision lists it (its length at most `cap`), named for error messages. */
function listedBlob(app: App, sha256: string, cap: number): RevisionArtifact {
  const listed = app.blobs.find((blob) => blob.sha256 === sha256);
  if (!listed)
    throw new UprollError(
      'INVALID_INPUT',
      `app ${app.name}: its image names blob ${sha256}, which the revision does not list`,
    );
  if (listed.length > cap)
    throw new UprollError('INPUT_TOO_LARGE', `app ${app.name}: blob ${sha256} is over ${cap} bytes`);
  return { path: appBlobLabel(app, sha256), sha256, length: listed.length };
}

/** Reads one small blob (manifest, config) from the object store; it must be listed by the revision and match its digest and length. */
async function readBlob(app: App, sha256: string, objects: ObjectStore, cap: number): Promise<Uint8Array> {
  const artifact = listedBlob(app, sha256, cap);
  // Checked when read (not only when fetched): a storage fault or tampering is caught here.
  const bytes = await readFile(objects.pathOf(sha256)).catch(() => {
    throw new UprollError('APP_START_FAILED', `app ${app.name}: blob ${sha256} is not on the device`);
  });
  objects.checkBytes(artifact, bytes);
  return bytes;
}
