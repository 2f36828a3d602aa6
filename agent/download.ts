import { createHash } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { UprollError, type Artifact } from '../core/index.ts';

/**
 * Streams an artifact to `destination`, never holding it in memory, and keeps
 * it only if it has exactly the length and sha256 the command names. Reading
 * stops as soon as the server sends more than that length (endless data).
 */
export async function downloadArtifact(
  artifact: Artifact,
  destination: string,
  options: { signal?: AbortSignal } = {},
): Promise<{ bytes: number }> {
  const partial = `${destination}.part`;
  let response: Response;
  try {
    response = await fetch(artifact.url, { signal: options.signal, redirect: 'error' });
  } catch (cause) {
    throw new UprollError('DOWNLOAD_FAILED', `could not fetch ${artifact.url}`, { cause });
  }
  if (!response.ok || !response.body) {
    throw new UprollError('DOWNLOAD_FAILED', `fetching ${artifact.url} answered HTTP ${response.status}`);
  }
  const hash = createHash('sha256');
  let bytes = 0;
  const file = await open(partial, 'w');
  try {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      bytes += chunk.byteLength;
      if (bytes > artifact.length) {
        throw new UprollError(
          'LENGTH_MISMATCH',
          `${artifact.name} is longer than the ${artifact.length} bytes expected`,
        );
      }
      hash.update(chunk);
      await file.write(chunk);
    }
    await file.sync();
  } catch (err) {
    await file.close();
    await rm(partial, { force: true });
    if (err instanceof UprollError) throw err;
    throw new UprollError('DOWNLOAD_FAILED', `the download of ${artifact.url} broke off`, { cause: err });
  }
  await file.close();
  const problem =
    bytes !== artifact.length
      ? new UprollError('LENGTH_MISMATCH', `${artifact.name} is ${bytes} bytes, expected ${artifact.length}`)
      : hash.digest('hex') !== artifact.sha256
        ? new UprollError(
            'HASH_MISMATCH',
            `${artifact.name} does not have the expected sha256 ${artifact.sha256}`,
          )
        : undefined;
  if (problem) {
    await rm(partial, { force: true });
    throw problem;
  }
  await rename(partial, destination);
  return { bytes };
}
