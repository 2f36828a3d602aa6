import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Writes a file so that readers see either the old or the new content, never
 * a torn one, even across a crash: temp file in the same directory, fsync,
 * rename over the target, fsync the directory.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const file = await open(temp, 'wx', options.mode ?? 0o644);
  try {
    await file.writeFile(data);
    await syncFile(file);
  } catch (err) {
    await file.close();
    await rm(temp, { force: true });
    throw err;
  }
  await file.close();
  await rename(temp, path);
  await syncDirectory(dirname(path));
}

/**
 * `UPROLL_FSYNC=off` skips every fsync: only for a simulated fleet whose
 * hundreds of "devices" share one disk (demo, load tests), where nothing
 * needs to survive a power cut. Never set it on a device or a server.
 */
const FSYNC = process.env['UPROLL_FSYNC'] !== 'off';

/** Makes a file's content durable. */
export async function syncFile(file: FileHandle): Promise<void> {
  if (FSYNC) await file.sync();
}

/** Makes a rename or creation in `dir` durable. */
export async function syncDirectory(dir: string): Promise<void> {
  if (!FSYNC) return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
