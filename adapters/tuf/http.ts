import { UprollError } from '../../core/index.ts';
import { getStream } from './http-get.ts';
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
  // node:http(s), not fetch: HTTPS verified with the deployment's CA too (server-trust.ts).
  const response = await getStream(url, { signal });
  const status = response.statusCode ?? 0;
  if (status === 404) {
    response.destroy();
    return undefined;
  }
  if (status < 200 || status > 299) {
    // A redirect is refused too: a repository never needs one.
    response.destroy();
    throw new UprollError('DOWNLOAD_FAILED', `fetching ${url} answered HTTP ${status}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    // Leaving the loop early destroys the response: a server that sends forever is cut off.
    for await (const chunk of response as AsyncIterable<Uint8Array>) {
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
