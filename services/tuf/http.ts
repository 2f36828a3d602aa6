import { UprollError } from '../../core/index.ts';
import { SLOW_RETRIEVAL_DEFAULTS, slowRetrievalWatchdog } from './slow-retrieval.ts';

/**
 * GETs `url` and reads at most `maxBytes` + 1 bytes of the body (the extra
 * byte lets the caller see the cap was passed), then hangs up. Resolves
 * undefined on 404. A transfer slower than the floor for a whole window
 * (headers included) fails with SLOW_RETRIEVAL.
 */
export async function fetchCapped(
  url: string,
  maxBytes: number,
  floor: { minBytesPerSecond?: number; windowMs?: number } = {},
): Promise<Uint8Array | undefined> {
  const { minBytesPerSecond, windowMs } = { ...SLOW_RETRIEVAL_DEFAULTS, ...floor };
  const abort = new AbortController();
  const watchdog = slowRetrievalWatchdog(abort, minBytesPerSecond, windowMs);
  try {
    return await read(url, maxBytes, abort.signal, watchdog);
  } catch (err) {
    if (!watchdog.tripped) throw err;
    throw new UprollError(
      'SLOW_RETRIEVAL',
      `${url} arrived slower than ${minBytesPerSecond} bytes/s for ${windowMs} ms`,
      { cause: err },
    );
  } finally {
    watchdog.stop();
  }
}

async function read(
  url: string,
  maxBytes: number,
  signal: AbortSignal,
  watchdog: { received(bytes: number): void },
): Promise<Uint8Array | undefined> {
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'error', signal });
  } catch (cause) {
    throw new UprollError('DOWNLOAD_FAILED', `could not fetch ${url}`, { cause });
  }
  if (response.status === 404) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new UprollError('DOWNLOAD_FAILED', `fetching ${url} answered HTTP ${response.status}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    // Leaving the loop early cancels the body: a server that sends forever is cut off.
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      chunks.push(chunk);
      size += chunk.byteLength;
      watchdog.received(chunk.byteLength);
      if (size > maxBytes) break;
    }
  } catch (cause) {
    throw new UprollError('DOWNLOAD_FAILED', `the download of ${url} broke off`, { cause });
  }
  return Buffer.concat(chunks).subarray(0, maxBytes + 1);
}

/** Joins a base URL and a relative path, whatever the base's trailing slash. */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path}`;
}
