import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  MAX_OCI_CONFIG_BYTES,
  MAX_OCI_INDEX_BYTES,
  MAX_OCI_MANIFEST_BYTES,
  ociIndexSchema,
  ociManifestSchema,
  parseJson,
  sha256Of,
  UprollError,
} from '../../core/index.ts';

/** Largest layer read from a layout (read whole, as artifacts are for now). */
const MAX_LAYER_BYTES = 1024 ** 3;

/** An image read from a local OCI layout: its manifest's sha256 and every blob's bytes. */
export interface OciImage {
  manifest: string;
  blobs: { sha256: string; bytes: Uint8Array }[];
}

/**
 * Reads the image tagged `tag` (or the layout's only image) from the OCI
 * image layout `dir`: index, manifest, config and layers, each blob checked
 * against its digest and size as it is read. No registry is involved.
 */
export async function readOciLayout(dir: string, tag?: string): Promise<OciImage> {
  const index = parseJson(ociIndexSchema, await readCapped(join(dir, 'index.json'), MAX_OCI_INDEX_BYTES), {
    maxBytes: MAX_OCI_INDEX_BYTES,
    what: `${dir}/index.json`,
  });
  const tagged = index.manifests.filter(
    (m) => tag === undefined || m.annotations?.['org.opencontainers.image.ref.name'] === tag,
  );
  const chosen = tagged[0];
  if (!chosen || tagged.length > 1)
    throw new UprollError(
      'INVALID_INPUT',
      tag === undefined
        ? `${dir} holds ${index.manifests.length} images: name one as DIR:TAG`
        : `${dir} has no image tagged ${tag}`,
    );
  const blobs: OciImage['blobs'] = [];
  const blob = async (digest: string, size: number, cap: number) => {
    const sha256 = sha256Of(digest);
    if (size > cap) throw new UprollError('INPUT_TOO_LARGE', `blob ${digest} is over ${cap} bytes`);
    const bytes = await readCapped(join(dir, 'blobs', 'sha256', sha256), cap);
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== sha256)
      throw new UprollError('HASH_MISMATCH', `blob ${digest} of ${dir} has sha256 ${actual}`);
    if (bytes.byteLength !== size)
      throw new UprollError('LENGTH_MISMATCH', `blob ${digest} is ${bytes.byteLength} bytes, not ${size}`);
    if (!blobs.some((b) => b.sha256 === sha256)) blobs.push({ sha256, bytes });
    return bytes;
  };
  const manifestBytes = await blob(chosen.digest, chosen.size, MAX_OCI_MANIFEST_BYTES);
  const manifest = parseJson(ociManifestSchema, manifestBytes, {
    maxBytes: MAX_OCI_MANIFEST_BYTES,
    what: `manifest ${chosen.digest}`,
  });
  await blob(manifest.config.digest, manifest.config.size, MAX_OCI_CONFIG_BYTES);
  for (const layer of manifest.layers) await blob(layer.digest, layer.size, MAX_LAYER_BYTES);
  return { manifest: sha256Of(chosen.digest), blobs };
}

async function readCapped(path: string, cap: number): Promise<Buffer> {
  const size = await stat(path).then(
    (s) => s.size,
    () => {
      throw new UprollError('FILE_NOT_FOUND', `${path} does not exist`);
    },
  );
  if (size > cap) throw new UprollError('INPUT_TOO_LARGE', `${path} is over ${cap} bytes`);
  return readFile(path);
}
