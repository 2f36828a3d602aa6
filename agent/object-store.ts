import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Schema, UprollError, type RevisionArtifact } from '../core/index.ts';
import { TargetVerifier } from '../core/tuf/index.ts';
import { downloadVerified, joinUrl, type DownloadOptions } from '../adapters/tuf/index.ts';
import { fileChunks, syncDirectory, syncFile } from '../adapters/fs/index.ts';

/**
 * The device's objects: each artifact's bytes once, named by sha256, so a
 * revision that changes one artifact of five costs one download, and any
 * revision in history can be installed again without the network. An object
 * is only ever put in place whole and verified.
 */
export class ObjectStore {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'objects');
  }

  pathOf(sha256: string): string {
    return join(this.dir, sha256Schema.parse(sha256));
  }

  /** The sha256 of every object held. */
  async present(): Promise<Set<string>> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return new Set(names.filter((name) => sha256Schema.safeParse(name).success));
  }

  /** Downloads one object from the Image repository's `objects/` area; resumes a partial one. */
  async fetch(
    artifact: RevisionArtifact,
    targetsUrl: string,
    options: DownloadOptions = {},
  ): Promise<number> {
    await mkdir(this.dir, { recursive: true });
    const { fetched } = await downloadVerified(
      joinUrl(targetsUrl, `objects/${artifact.sha256}`),
      { length: artifact.length, hashes: { sha256: artifact.sha256 } },
      artifact.path,
      this.pathOf(artifact.sha256),
      options,
    );
    return fetched;
  }

  /**
   * Stores an object handed over locally (control socket, USB), keeping it
   * only if it is exactly `artifact`: checked while it streams, so a body
   * longer than the artifact is refused at the first byte over.
   */
  async put(artifact: RevisionArtifact, body: AsyncIterable<Uint8Array>): Promise<number> {
    await mkdir(this.dir, { recursive: true });
    const path = this.pathOf(artifact.sha256);
    const temp = `${path}.upload-${randomBytes(6).toString('hex')}`;
    const verifier = new TargetVerifier(
      { length: artifact.length, hashes: { sha256: artifact.sha256 } },
      `object ${artifact.sha256} (${artifact.path})`,
    );
    const file = await open(temp, 'wx', 0o600);
    try {
      for await (const chunk of body) {
        verifier.update(chunk);
        await file.write(chunk);
      }
      verifier.finish();
      await syncFile(file);
      await file.close();
      await rename(temp, path);
      await syncDirectory(this.dir);
      return artifact.length;
    } catch (err) {
      await file.close().catch(() => {});
      await rm(temp, { force: true });
      throw err;
    }
  }

  /** Re-reads an object and checks it is still exactly `artifact` (storage faults, tampering). */
  async check(artifact: RevisionArtifact): Promise<void> {
    const path = this.pathOf(artifact.sha256);
    const size = await stat(path).then(
      (s) => s.size,
      () => -1,
    );
    if (size < 0)
      throw new UprollError(
        'INSTALL_FAILED',
        `object ${artifact.sha256} (${artifact.path}) is not on the device`,
      );
    const verifier = new TargetVerifier(
      { length: artifact.length, hashes: { sha256: artifact.sha256 } },
      artifact.path,
    );
    for await (const chunk of fileChunks(path)) verifier.update(chunk);
    verifier.finish();
  }

  /** Checks bytes read from an object are exactly `artifact` (length and sha256), before they are used. */
  checkBytes(artifact: RevisionArtifact, bytes: Uint8Array): void {
    const verifier = new TargetVerifier(
      { length: artifact.length, hashes: { sha256: artifact.sha256 } },
      artifact.path,
    );
    verifier.update(bytes);
    verifier.finish();
  }

  /** Deletes every object not in `keep` (objects of revisions no longer in history). */
  async prune(keep: ReadonlySet<string>): Promise<void> {
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      if (!keep.has(name)) await rm(join(this.dir, name), { force: true });
    }
  }
}
