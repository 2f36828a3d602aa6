import { chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** How the agent writes its state files: readable by itself alone. */
export const PRIVATE = { mode: 0o600 } as const;

/** The agent's own state in its data directory: trust metadata, reports, revisions, objects. */
const STATE_AREAS = ['trust', 'reports', 'revisions', 'objects'];

/**
 * Makes the data directory the agent's alone: the directory 0700, its
 * state files 0600 and their folders 0700, whatever modes an older agent or
 * an operator left. Installed content (slots, OSTree, apps) keeps its
 * own modes: the directory's 0700 already closes it to other users.
 */
export async function secureDataDir(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await chmod(dataDir, 0o700);
  for (const name of await readdir(dataDir)) {
    const path = join(dataDir, name);
    const info = await lstat(path);
    if (info.isFile()) await tighten(path, info.mode, 0o600);
    else if (info.isDirectory() && STATE_AREAS.includes(name)) await secureTree(path);
  }
}

async function secureTree(dir: string): Promise<void> {
  await tighten(dir, (await lstat(dir)).mode, 0o700);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await secureTree(path);
    else if (entry.isFile()) await tighten(path, (await lstat(path)).mode, 0o600);
  }
}

async function tighten(path: string, mode: number, wanted: number): Promise<void> {
  if ((mode & 0o777) !== wanted) await chmod(path, wanted);
}
