import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { roleFileName, type MetadataCache } from '../../core/tuf/index.ts';
import { writeFileAtomic } from '../fs/index.ts';

/**
 * Trusted metadata in a directory, stored unversioned (`root.json`,
 * `timestamp.json`, ...). Role names come from metadata, so they are
 * percent-encoded into file names (as python-tuf names them) and can never
 * leave the directory.
 */
export function metadataDirectory(dir: string): MetadataCache & { path(role: string): string } {
  const path = (role: string) => join(dir, roleFileName(role));
  return {
    path,
    load: (role) => readFile(path(role)).catch(() => undefined),
    async save(role, bytes) {
      await mkdir(dir, { recursive: true });
      await writeFileAtomic(path(role), bytes, { mode: 0o600 }); // a device's trust state is its own
    },
  };
}
