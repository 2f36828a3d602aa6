import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  checkTargetPath,
  percentEncode,
  targetUrlPath,
  TargetVerifier,
  type FoundTarget,
} from '../../core/tuf/index.ts';
import { fileChunks } from '../fs/index.ts';
import { downloadVerified } from './resumable-download.ts';
import { joinUrl } from './http.ts';

/** Where a target is kept in the target directory: its path, percent-encoded into one file name. */
export function targetFileName(path: string): string {
  return percentEncode(checkTargetPath(path));
}

/** The URL of a target, percent-encoded; with consistent snapshots its file name carries a hash prefix (TUF 5.7.3). */
export function targetUrl(baseUrl: string, found: FoundTarget, consistentSnapshot: boolean): string {
  if (!consistentSnapshot) return joinUrl(baseUrl, targetUrlPath(found.path));
  const hash = found.target.hashes['sha256'] ?? Object.values(found.target.hashes)[0] ?? '';
  return joinUrl(baseUrl, targetUrlPath(found.path, hash));
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

async function verifiesOnDisk(path: string, found: FoundTarget): Promise<boolean> {
  try {
    const verifier = new TargetVerifier(found.target, found.path);
    for await (const chunk of fileChunks(path)) verifier.update(chunk);
    verifier.finish();
    return true;
  } catch {
    return false;
  }
}
