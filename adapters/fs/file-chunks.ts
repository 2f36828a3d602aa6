import { open } from 'node:fs/promises';

/** Size of the one buffer a file is read through. */
const CHUNK_BYTES = 1024 * 1024;

/**
 * Reads a file through one reused buffer: each chunk is a view that is only
 * valid until the next one is asked for. Streaming a large image this way
 * leaves no garbage behind, so memory does not grow with the image (a
 * stream allocates a new buffer per chunk, and V8 collects them late).
 */
export async function* fileChunks(path: string, start = 0): AsyncGenerator<Uint8Array> {
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    for (let position = start; ;) {
      const { bytesRead } = await file.read(buffer, 0, buffer.byteLength, position);
      if (bytesRead === 0) return;
      position += bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await file.close();
  }
}
