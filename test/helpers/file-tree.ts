import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

/**
 * Every file under `dir` by relative path, with the sha256 of its bytes
 * (directories as `directory`): two trees compare equal only when nothing
 * under them was added, removed or changed. A missing `dir` is empty.
 */
export async function fileTree(dir: string): Promise<Record<string, string>> {
  const tree: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) {
    const path = join(entry.parentPath, entry.name);
    tree[relative(dir, path)] = entry.isFile()
      ? createHash('sha256')
          .update(await readFile(path))
          .digest('hex')
      : 'directory';
  }
  return tree;
}
