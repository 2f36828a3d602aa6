import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { UprollError } from '../../core/index.ts';
import { TargetVerifier, type FoundTarget, type TargetInfo } from '../../core/tuf/index.ts';
import { joinUrl } from './http.ts';

/** Where a target is kept in the target directory: its path, URL-encoded into one file name. */
export function targetFileName(path: string): string {
  return encodeURIComponent(path);
}

/** The URL of a target; with consistent snapshots its file name carries a hash prefix (TUF 5.7.3). */
export function targetUrl(baseUrl: string, found: FoundTarget, consistentSnapshot: boolean): string {
  if (!consistentSnapshot) return joinUrl(baseUrl, found.path);
  const hash = found.target.hashes['sha256'] ?? Object.values(found.target.hashes)[0] ?? '';
  const slash = found.path.lastIndexOf('/');
  return joinUrl(baseUrl, `${found.path.slice(0, slash + 1)}${hash}.${found.path.slice(slash + 1)}`);
}

/**
 * Makes sure the target directory holds the verified target: a copy already
 * there that verifies is kept (no download); otherwise it is streamed with
 * its exact length and hashes checked, and only a verified file is put in
 * place. Returns the file's path and whether it was downloaded.
 */
export async function ensureTarget(
  found: FoundTarget,
  url: string,
  targetDir: string,
): Promise<{ path: string; downloaded: boolean }> {
  const path = join(targetDir, targetFileName(found.path));
  if (await verifiesOnDisk(path, found)) return { path, downloaded: false };
  await mkdir(targetDir, { recursive: true });
  await downloadVerified(url, found.target, found.path, path);
  return { path, downloaded: true };
}

/**
 * Streams `url` to `destination`, never holding it in memory, and keeps it
 * only if it is exactly the target: more bytes than its length stop the
 * transfer (ENDLESS_DATA); a short or altered file is deleted
 * (LENGTH_MISMATCH, HASH_MISMATCH). Network failures are DOWNLOAD_FAILED.
 */
export async function downloadVerified(
  url: string,
  target: TargetInfo,
  name: string,
  destination: string,
  options: { signal?: AbortSignal } = {},
): Promise<{ bytes: number }> {
  const verifier = new TargetVerifier(target, name);
  const partial = `${destination}.part`;
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'error', signal: options.signal });
  } catch (cause) {
    throw new UprollError('DOWNLOAD_FAILED', `could not fetch ${url}`, { cause });
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new UprollError('DOWNLOAD_FAILED', `fetching ${url} answered HTTP ${response.status}`);
  }
  const file = await open(partial, 'w');
  try {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      verifier.update(chunk);
      await file.write(chunk);
    }
    verifier.finish();
    await file.sync();
  } catch (err) {
    await file.close();
    await rm(partial, { force: true });
    if (err instanceof UprollError) throw err;
    throw new UprollError('DOWNLOAD_FAILED', `the download of ${url} broke off`, { cause: err });
  }
  await file.close();
  await rename(partial, destination);
  return { bytes: verifier.received };
}

async function verifiesOnDisk(path: string, found: FoundTarget): Promise<boolean> {
  try {
    const verifier = new TargetVerifier(found.target, found.path);
    for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) verifier.update(chunk);
    verifier.finish();
    return true;
  } catch {
    return false;
  }
}
