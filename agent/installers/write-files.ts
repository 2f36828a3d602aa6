import { mkdir, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UprollError, type StateRevision } from '../../core/index.ts';
import { TargetVerifier } from '../../core/tuf/index.ts';
import { fileChunks, syncDirectory, syncFile } from '../../adapters/fs/index.ts';
import type { ObjectStore } from '../object-store.ts';
import type { FileWritten } from './installer.ts';

/**
 * Writes each artifact of `revision` under `dir` (mode 0755 when it is
 * executable, else 0644), streaming it from the object store through a
 * verifier (exact length and sha256: a damaged object fails the install
 * instead of landing in a deployment) and syncing every file and directory
 * to disk.
 */
export async function writeRevisionFiles(
  revision: StateRevision,
  objects: ObjectStore,
  dir: string,
  onFileWritten?: FileWritten,
): Promise<void> {
  const dirs = new Set<string>([dir]);
  for (const artifact of revision.artifacts) {
    const destination = join(dir, ...artifact.path.split('/'));
    await mkdir(dirname(destination), { recursive: true });
    dirs.add(dirname(destination));
    const verifier = new TargetVerifier(
      { length: artifact.length, hashes: { sha256: artifact.sha256 } },
      artifact.path,
    );
    const file = await open(destination, 'w');
    try {
      for await (const chunk of fileChunks(objects.pathOf(artifact.sha256))) {
        verifier.update(chunk);
        await file.write(chunk);
      }
      verifier.finish();
      await file.chmod(artifact.executable ? 0o755 : 0o644); // whatever the umask
      await syncFile(file);
    } finally {
      await file.close();
    }
    await onFileWritten?.(artifact.path);
  }
  for (const path of dirs) await syncDirectory(path);
}

/** Installers that write files only refuse a revision whose OS is an OSTree commit: they would drop it silently. */
export function assertFilesOnly(revision: StateRevision, installer: string): void {
  if (revision.ostree)
    throw new UprollError(
      'REVISION_UNSUPPORTED',
      `revision ${revision.name} deploys OSTree commit ${revision.ostree.commit}, which the ${installer} installer cannot; run the agent with --installer ostree --ostree-sysroot`,
    );
}
