import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
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
} from '../../core/index.ts';
import { syncDirectory } from '../../services/fs/index.ts';
import type { ObjectStore } from '../object-store.ts';
import { extractLayer } from './layer-extract.ts';

/** Uncompressed size cap of one layer: layers are unpacked in memory for now. */
export const MAX_UNPACKED_LAYER_BYTES = 1024 ** 3;

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

  // Every layer is read and checked first: a bad one stops the unpack before anything is written.
  const layers: Uint8Array[] = [];
  for (const layer of manifest.layers) {
    const bytes = await readBlob(app, sha256Of(layer.digest), objects, layer.size);
    layers.push(OCI_LAYER_TYPES[layer.mediaType] === 'gzip' ? gunzip(bytes, app) : bytes);
  }
  const partial = join(appsDir, 'bundles', `${app.image.manifest}.partial-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(join(partial, 'rootfs'), { recursive: true, mode: 0o755 });
    for (const tar of layers) await extractLayer(tar, join(partial, 'rootfs'));
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

/** Reads one blob from the object store; it must be listed by the revision and match its digest and length. */
async function readBlob(app: App, sha256: string, objects: ObjectStore, cap: number): Promise<Uint8Array> {
  const listed = app.blobs.find((blob) => blob.sha256 === sha256);
  if (!listed)
    throw new UprollError(
      'INVALID_INPUT',
      `app ${app.name}: its image names blob ${sha256}, which the revision does not list`,
    );
  if (listed.length > cap)
    throw new UprollError('INPUT_TOO_LARGE', `app ${app.name}: blob ${sha256} is over ${cap} bytes`);
  const artifact = { path: appBlobLabel(app, sha256), sha256, length: listed.length };
  // Checked when read (not only when fetched): a storage fault or tampering is caught here.
  const bytes = await readFile(objects.pathOf(sha256)).catch(() => {
    throw new UprollError('APP_START_FAILED', `app ${app.name}: blob ${sha256} is not on the device`);
  });
  objects.checkBytes(artifact, bytes);
  return bytes;
}

function gunzip(bytes: Uint8Array, app: App): Uint8Array {
  try {
    return gunzipSync(bytes, { maxOutputLength: MAX_UNPACKED_LAYER_BYTES });
  } catch (cause) {
    throw new UprollError(
      'LAYER_UNSAFE',
      `app ${app.name}: a layer does not gunzip within ${MAX_UNPACKED_LAYER_BYTES} bytes`,
      {
        cause,
      },
    );
  }
}
