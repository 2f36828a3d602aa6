import type { StateRevision } from '../../core/index.ts';
import type { ObjectStore } from '../object-store.ts';

/** Told after each artifact is written into a deployment (progress; crash tests stop there). */
export type FileWritten = (path: string) => Promise<void> | void;

/**
 * How a revision's files get onto the device. The update manager owns the
 * boot control (which deployment runs, trial, boot attempts); an installer
 * only places files and points the system at a deployment.
 */
export interface Installer {
  readonly kind: 'ab' | 'ostree' | 'ostree-system' | 'image';
  /**
   * Fetches what the revision needs beyond its artifacts (an OSTree commit)
   * and checks it against the verified revision; returns the bytes fetched.
   * Called after the artifacts are downloaded, before anything is staged.
   * Installers without anything of their own to fetch leave it out.
   */
  fetch?(revision: StateRevision): Promise<number>;
  /**
   * True when the new deployment only runs after a reboot through the
   * bootloader (raw A/B images): the update manager then arms a trial boot
   * in the boot environment and reboots instead of activating it.
   */
  readonly switchesByReboot?: boolean;
  /**
   * Writes every artifact of `revision` (from the object store, each checked
   * again as it is read) into a deployment the device does not run, leaving
   * the deployments in `keep` untouched. Returns the new deployment's name.
   * A crash part-way leaves a deployment nothing points at.
   */
  stage(
    revision: StateRevision,
    objects: ObjectStore,
    keep: readonly string[],
    onFileWritten?: FileWritten,
  ): Promise<string>;
  /** The directory holding a deployment's files (health checks run there). */
  pathOf(deployment: string): string;
  /** Points the running system at `deployment` after the boot control switched to it; safe to repeat. */
  activate(deployment: string): Promise<void>;
  /** Frees the space of deployments other than `keep`. */
  prune(keep: readonly string[]): Promise<void>;
}
