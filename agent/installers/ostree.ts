import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, rename, rm, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { UprollError, type StateRevision } from '../../core/index.ts';
import { syncDirectory } from '../../adapters/fs/index.ts';
import type { ObjectStore } from '../object-store.ts';
import type { FileWritten, Installer } from './installer.ts';
import { assertFilesOnly, writeRevisionFiles } from './write-files.ts';

const run = promisify(execFile);
const CHECKSUM = /^[0-9a-f]{64}$/;

export interface OstreeInstallerOptions {
  /** The `ostree` program (default `/usr/bin/ostree`). */
  ostree?: string;
}

/**
 * OSTree (any Linux with the `ostree` CLI, no root needed): each revision is
 * a commit in a local repository and a deployment is a checkout of it made of
 * hard links into the repository, so a file unchanged between revisions is
 * stored once. A deployment is named by its commit checksum and must be
 * treated as read-only: writing into one would change the repository's object.
 *
 * Layout under `<dataDir>/ostree`: `repo/`, `deploy/<checksum>/`, and the
 * symlink `current` that names the deployment the system runs.
 */
export class OstreeInstaller implements Installer {
  readonly kind = 'ostree';
  readonly #root: string;
  readonly #repo: string;
  readonly #deploy: string;
  readonly #ostree: string;
  #ready: Promise<void> | undefined;

  constructor(dataDir: string, options: OstreeInstallerOptions = {}) {
    this.#root = join(dataDir, 'ostree');
    this.#repo = join(this.#root, 'repo');
    this.#deploy = join(this.#root, 'deploy');
    this.#ostree = options.ostree ?? '/usr/bin/ostree';
  }

  pathOf(deployment: string): string {
    if (!CHECKSUM.test(deployment))
      throw new UprollError('INVALID_INPUT', `no OSTree deployment ${JSON.stringify(deployment)}`);
    return join(this.#deploy, deployment);
  }

  /** `keep` needs no care: staging only adds a deployment, and reuses (never rewrites) an existing one. */
  async stage(
    revision: StateRevision,
    objects: ObjectStore,
    _keep: readonly string[],
    onFileWritten?: FileWritten,
  ): Promise<string> {
    assertFilesOnly(revision, 'OSTree directory');
    await this.#init();
    // Beside the repository (not in a tmpfs /tmp): a whole revision may be large.
    const tree = await mkdtemp(join(this.#root, 'tree-'));
    let checksum: string;
    try {
      await chmod(tree, 0o755); // it becomes the deployment's root directory
      await writeRevisionFiles(revision, objects, tree, onFileWritten);
      // A fixed timestamp and no parent make the commit a function of the revision alone:
      // staging it again gives the same checksum and reuses its deployment. Not --consume:
      // it renames a file over an identical existing object, cutting older deployments'
      // hard links to it, so the file would be stored twice.
      const out = await this.#run(
        'commit',
        `--branch=uproll/${revision.name}`,
        `--tree=dir=${tree}`,
        `--subject=${revision.name}`,
        '--timestamp=@0',
        '--parent=none',
      );
      checksum = out.trim();
    } finally {
      await rm(tree, { recursive: true, force: true });
    }
    const target = this.pathOf(checksum);
    // Deployments appear only whole (rename below), so one that exists is complete.
    if (await isDirectory(target)) return checksum;
    const temp = join(this.#deploy, `.${checksum}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      // -U: no ownership or xattrs (unprivileged); -H: fail rather than silently copy files.
      await this.#run('checkout', '-U', '-H', checksum, temp);
      await syncTree(temp); // checkout does not fsync the hard links it makes
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { recursive: true, force: true });
      throw err;
    }
    await syncDirectory(this.#deploy);
    return checksum;
  }

  async activate(deployment: string): Promise<void> {
    if (!(await isDirectory(this.pathOf(deployment))))
      throw new UprollError('INSTALL_FAILED', `OSTree deployment ${deployment} is not staged`);
    const current = join(this.#root, 'current');
    const temp = `${current}.${randomBytes(6).toString('hex')}.tmp`;
    // Relative, so the data directory can be mounted elsewhere; rename replaces the link atomically.
    await symlink(join('deploy', deployment), temp);
    try {
      await rename(temp, current);
    } catch (err) {
      await rm(temp, { force: true });
      throw new UprollError('INSTALL_FAILED', `cannot point ${current} at ${deployment}`, { cause: err });
    }
    await syncDirectory(this.#root);
  }

  async prune(keep: readonly string[]): Promise<void> {
    await this.#init();
    const kept = new Set(keep);
    for (const name of await readdir(this.#deploy)) {
      if (kept.has(name)) continue;
      let path = join(this.#deploy, name);
      if (CHECKSUM.test(name)) {
        // Out of its name first, so a crash part-way never leaves a partial deployment that looks whole.
        const doomed = join(this.#deploy, `.${name}.${randomBytes(6).toString('hex')}.deleted`);
        await rename(path, doomed);
        path = doomed;
      }
      await rm(path, { recursive: true, force: true });
    }
    const refs = (await this.#run('refs', '--list', 'uproll')).split('\n').filter(Boolean);
    if (refs.length > 0) {
      const commits = (await this.#run('rev-parse', ...refs)).split('\n');
      const dropped = refs.filter((_, i) => !kept.has(commits[i] ?? ''));
      for (const ref of dropped) await this.#run('refs', '--delete', ref);
    }
    // Frees commits no ref names any more, and the objects only they used.
    await this.#run('prune', '--refs-only');
  }

  /** Creates the repository once; bare-user-only works without root or xattr support. */
  #init(): Promise<void> {
    this.#ready ??= (async () => {
      await mkdir(this.#deploy, { recursive: true });
      await this.#run('init', '--mode=bare-user-only'); // a no-op on an existing repository
    })();
    return this.#ready.catch((err: unknown) => {
      this.#ready = undefined; // let the next call try again
      throw err;
    });
  }

  async #run(command: string, ...args: string[]): Promise<string> {
    try {
      const { stdout } = await run(this.#ostree, [command, `--repo=${this.#repo}`, ...args], {
        maxBuffer: 16 * 1024 * 1024,
      });
      return stdout;
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr?.trim();
      const reason = stderr || (err instanceof Error ? err.message : String(err));
      throw new UprollError('INSTALL_FAILED', `ostree ${command} failed: ${reason}`, { cause: err });
    }
  }
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** Makes every directory entry under `dir` durable (the files' data already is, in the repository). */
async function syncTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await syncTree(join(dir, entry.name));
  }
  await syncDirectory(dir);
}
