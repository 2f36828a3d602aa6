import { open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileChunks, garbageCollectorPacer, syncDirectory, syncFile } from '../fs/index.ts';
import { getStream } from './http-get.ts';
import { SLOW_RETRIEVAL_DEFAULTS, slowRetrievalWatchdog } from './slow-retrieval.ts';
import { UprollError } from '../../core/index.ts';
import { TargetVerifier, type TargetInfo } from '../../core/tuf/index.ts';

export interface DownloadOptions {
  signal?: AbortSignal;
  /** Tries after a broken transfer, each resuming with a Range request where the last one stopped. */
  attempts?: number;
  /** Slow-retrieval floor: fewer bytes than this per second over a whole window aborts the transfer. */
  minBytesPerSecond?: number;
  windowMs?: number;
  onProgress?: (received: number, total: number) => void;
}

export interface DownloadResult {
  /** Length of the verified file. */
  bytes: number;
  /** Bytes actually fetched over the network (less than `bytes` after a resume). */
  fetched: number;
}

const DEFAULTS = { attempts: 5, ...SLOW_RETRIEVAL_DEFAULTS };

/**
 * Streams `url` to `destination`, never holding it in memory, and keeps it
 * only if it is exactly the target: more bytes than its length stop the
 * transfer (ENDLESS_DATA); a short or altered file is deleted
 * (LENGTH_MISMATCH, HASH_MISMATCH). A broken transfer keeps what arrived and
 * resumes it with an HTTP Range request; a transfer slower than the floor
 * for a whole window stops (SLOW_RETRIEVAL). Network failures that outlast
 * the attempts are DOWNLOAD_FAILED.
 */
export async function downloadVerified(
  url: string,
  target: TargetInfo,
  name: string,
  destination: string,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  const settings = { ...DEFAULTS, ...options };
  const partial = `${destination}.part`;
  let fetched = 0;
  for (let attempt = 1; ; attempt++) {
    const verifier = new TargetVerifier(target, name);
    let have = await resumeFrom(partial, target, verifier);
    const abort = new AbortController();
    const onAbort = () => abort.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const watchdog = slowRetrievalWatchdog(abort, settings.minBytesPerSecond, settings.windowMs);
    try {
      const response = await getStream(url, {
        signal: abort.signal,
        headers: have > 0 ? { range: `bytes=${have}-` } : {},
      });
      if (response.statusCode !== 200 && response.statusCode !== 206) {
        response.destroy();
        throw new UprollError('DOWNLOAD_FAILED', `fetching ${url} answered HTTP ${response.statusCode}`);
      }
      if (response.statusCode === 200 && have > 0) {
        // The server ignored the range: start over.
        have = 0;
        verifier.reset();
      }
      const file = await open(partial, have > 0 ? 'a' : 'w', 0o600);
      const pace = garbageCollectorPacer();
      try {
        for await (const chunk of response as AsyncIterable<Buffer>) {
          verifier.update(chunk);
          await file.write(chunk);
          pace(chunk.byteLength);
          fetched += chunk.byteLength;
          watchdog.received(chunk.byteLength);
          options.onProgress?.(verifier.received, target.length);
        }
        await syncFile(file);
      } finally {
        await file.close();
      }
      verifier.finish();
      await rename(partial, destination);
      await syncDirectory(dirname(destination));
      return { bytes: verifier.received, fetched };
    } catch (err) {
      if (watchdog.tripped) {
        throw new UprollError(
          'SLOW_RETRIEVAL',
          `${name} arrived slower than ${settings.minBytesPerSecond} bytes/s for ${settings.windowMs} ms`,
          { cause: err },
        );
      }
      if (err instanceof UprollError && err.code !== 'DOWNLOAD_FAILED') {
        await rm(partial, { force: true }); // what arrived is not the target: never resume from it
        throw err;
      }
      if (options.signal?.aborted || attempt >= settings.attempts) {
        throw err instanceof UprollError
          ? err
          : new UprollError('DOWNLOAD_FAILED', `the download of ${url} broke off`, { cause: err });
      }
      // Broken off: keep the partial file and resume from it.
    } finally {
      watchdog.stop();
      options.signal?.removeEventListener('abort', onAbort);
    }
  }
}

/** Feeds an existing partial file to the verifier; returns its length (0 when there is none to resume). */
async function resumeFrom(partial: string, target: TargetInfo, verifier: TargetVerifier): Promise<number> {
  const size = await stat(partial).then(
    (s) => s.size,
    () => 0,
  );
  if (size === 0) return 0;
  if (size > target.length) {
    await rm(partial, { force: true });
    return 0;
  }
  for await (const chunk of fileChunks(partial)) verifier.update(chunk);
  return size;
}
