import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { StateRevision } from '../../core/index.ts';
import type { ObjectStore } from '../object-store.ts';
import type { FileWritten, Installer } from './installer.ts';
import { assertFilesOnly, writeRevisionFiles } from './write-files.ts';

/**
 * A/B slots (any Linux): two slot directories, `slots/a` and `slots/b`. A
 * revision is written whole into the slot the device does not run; the
 * boot control's atomic rename is the switch.
 */
export class AbSlotsInstaller implements Installer {
  readonly kind = 'ab';
  readonly #dir: string;

  constructor(dataDir: string) {
    this.#dir = join(dataDir, 'slots');
  }

  pathOf(slot: string): string {
    if (slot !== 'a' && slot !== 'b') throw new Error(`no A/B slot ${slot}`);
    return join(this.#dir, slot);
  }

  async stage(
    revision: StateRevision,
    objects: ObjectStore,
    keep: readonly string[],
    onFileWritten?: FileWritten,
  ): Promise<string> {
    assertFilesOnly(revision, 'A/B slots');
    const slot = keep.includes('a') ? 'b' : 'a';
    const dir = this.pathOf(slot);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await writeRevisionFiles(revision, objects, dir, onFileWritten);
    return slot;
  }

  async activate(): Promise<void> {
    // The boot control names the slot; a bootloader reads it from there.
  }

  async prune(): Promise<void> {
    // Both slots are kept: the inactive one is the rollback target.
  }
}
