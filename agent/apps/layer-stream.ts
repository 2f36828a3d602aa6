import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline, Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { UprollError } from '../../core/index.ts';

/** Read size from the object file: memory held per layer is a few of these. */
const CHUNK_BYTES = 64 * 1024;

/** A layer's tar bytes, streamed; `finish()` reads what the tar reader left and checks the object's digest again. */
export interface LayerStream {
  tar: AsyncIterable<Uint8Array>;
  finish(): Promise<void>;
  /** Stops reading (after a failed unpack): closes the object file. */
  close(): Promise<void>;
}

/**
 * Streams the uncompressed tar of a layer object at `path` (gunzipped when
 * `gzip`), at most `maxUnpacked` bytes of it. The object's digest was
 * checked before (nothing is unpacked from a bad one); it is hashed again as
 * it is read, since the file could change after that check, and `finish()`
 * fails with HASH_MISMATCH when it did (the caller then drops what it
 * unpacked).
 */
export function layerStream(
  path: string,
  expected: { sha256: string; length: number },
  options: { gzip: boolean; maxUnpacked: number; what: string },
): LayerStream {
  const hash = createHash('sha256');
  let length = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      length += chunk.byteLength;
      done(null, chunk);
    },
  });
  const file = createReadStream(path, { highWaterMark: CHUNK_BYTES });
  // pipeline destroys every stage when one fails or the reader stops early: no descriptor is left open.
  const output: Readable = options.gzip
    ? pipeline(file, hashing, createGunzip({ chunkSize: CHUNK_BYTES }), () => {})
    : pipeline(file, hashing, () => {});

  async function* tar(): AsyncGenerator<Uint8Array> {
    let unpacked = 0;
    try {
      for await (const chunk of output as AsyncIterable<Buffer>) {
        unpacked += chunk.byteLength;
        if (unpacked > options.maxUnpacked)
          throw new UprollError(
            'LAYER_UNSAFE',
            `${options.what} unpacks to over ${options.maxUnpacked} bytes`,
          );
        yield chunk;
      }
    } catch (cause) {
      if (
        typeof (cause as { code?: unknown }).code === 'string' &&
        (cause as { code: string }).code.startsWith('Z_')
      )
        throw new UprollError('LAYER_UNSAFE', `${options.what} does not gunzip`, { cause });
      throw cause;
    }
    const digest = hash.digest('hex');
    if (digest !== expected.sha256 || length !== expected.length)
      throw new UprollError(
        'HASH_MISMATCH',
        `${options.what} changed while it was unpacked: ${length} bytes of sha256 ${digest}, not ${expected.length} of ${expected.sha256}`,
      );
  }
  const chunks = tar();
  return {
    tar: chunks,
    async finish() {
      // The tar reader stops at the end-of-archive blocks; the digest covers the whole object.
      while (!(await chunks.next()).done);
    },
    async close() {
      await chunks.return(undefined);
    },
  };
}
