import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UprollError, type StateRevision } from '../../core/index.ts';
import type { ObjectStore } from '../object-store.ts';
import type { FileWritten, Installer } from './installer.ts';
import { ostreeFailure, runOstree } from './ostree-cli.ts';
import { parseDeployments, parseTransferred, type SysrootDeployment } from './ostree-output.ts';

const CHECKSUM = /^[0-9a-f]{64}$/;
const OS_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;
/** The remote the Image repository's OSTree repository is known by in the sysroot's repository. */
const REMOTE = 'uproll';
/** Refs that keep pulled commits from `ostree admin undeploy`'s prune until the agent lets them go. */
const PIN_PREFIX = 'uproll/commits';

export interface OstreeSystemInstallerOptions {
  /** The sysroot (`/` on a device; it holds `ostree/repo`, `ostree/deploy/<os>` and `boot/`). */
  sysroot: string;
  /** The OS (stateroot) name under `ostree/deploy/`. */
  os: string;
  /** The Image repository's OSTree repository over HTTP (e.g. `https://updates.example.com/ostree/`). */
  remoteUrl: string;
  /** The `ostree` program (default `/usr/bin/ostree`). */
  ostree?: string;
  /** Time limit of one pull (default one hour). */
  pullTimeoutMs?: number;
  /** The CA an HTTPS `remoteUrl` is verified with (the deployment's, from the bundle). */
  tlsCaFile?: string;
}

/**
 * OSTree system deployments: a revision's OS is an OSTree commit, pulled by
 * checksum from the Image repository's OSTree repository (objects only when
 * missing; trust comes from the Uptane-verified revision, not from GPG) and
 * deployed with `ostree admin deploy`, which writes the boot entries under
 * `<sysroot>/boot/loader/entries` and merges `/etc`. A deployment is named
 * by its commit checksum.
 *
 * Staging deploys the commit as the new default: the bootloader swap of
 * `ostree admin deploy` is atomic, and a failure there leaves the device on
 * what it ran. `activate` then makes the deployment the boot control names
 * the default again: the one in front of it are undeployed (a rollback), or
 * it is deployed anew when it is gone. 2022.7 has no `set-default`.
 */
export class OstreeSystemInstaller implements Installer {
  readonly kind = 'ostree-system';
  readonly #options: Required<OstreeSystemInstallerOptions>;
  readonly #repo: string;
  #ready: Promise<void> | undefined;

  constructor(options: OstreeSystemInstallerOptions) {
    if (!OS_NAME.test(options.os))
      throw new UprollError('INVALID_INPUT', `${JSON.stringify(options.os)} is not an OSTree OS name`);
    this.#options = { ostree: '/usr/bin/ostree', pullTimeoutMs: 3_600_000, tlsCaFile: '', ...options };
    this.#repo = join(options.sysroot, 'ostree', 'repo');
  }

  get #deployDir(): string {
    return join(this.#options.sysroot, 'ostree', 'deploy', this.#options.os, 'deploy');
  }

  /** The newest deployment directory of the commit (health checks run there). */
  pathOf(deployment: string): string {
    if (!CHECKSUM.test(deployment))
      throw new UprollError('INVALID_INPUT', `no OSTree deployment ${JSON.stringify(deployment)}`);
    const serials = readdirSync(this.#deployDir)
      .filter((name) => name.startsWith(`${deployment}.`) && /^\d+$/.test(name.slice(65)))
      .map((name) => Number(name.slice(65)));
    if (serials.length === 0)
      throw new UprollError('INSTALL_FAILED', `commit ${deployment} is not deployed in ${this.#deployDir}`);
    return join(this.#deployDir, `${deployment}.${Math.max(...serials)}`);
  }

  /** Pulls the revision's commit unless the sysroot's repository holds it whole, then checks its checksum. */
  async fetch(revision: StateRevision): Promise<number> {
    const commit = commitOf(revision);
    await this.#init();
    let pulled = 0;
    if (!(await this.#holds(commit))) {
      const out = await this.#pull(commit);
      pulled = parseTransferred(out);
    }
    await this.#checkCommit(commit);
    // Pinned, so that undeploying another deployment (which prunes the repository) keeps it.
    await this.#ostree('refs', `--repo=${this.#repo}`, '--force', `--create=${PIN_PREFIX}/${commit}`, commit);
    return pulled;
  }

  async stage(
    revision: StateRevision,
    _objects: ObjectStore,
    _keep: readonly string[],
    onFileWritten?: FileWritten,
  ): Promise<string> {
    const commit = commitOf(revision);
    if (!(await this.#holds(commit))) await this.fetch(revision);
    await this.#checkCommit(commit); // again: the repository may have changed since the fetch
    // Told before the deploy: whatever it throws, nothing has moved yet.
    await onFileWritten?.(`ostree:${commit}`);
    await this.#deploy(commit);
    return commit;
  }

  async activate(deployment: string): Promise<void> {
    if (!CHECKSUM.test(deployment))
      throw new UprollError('INVALID_INPUT', `no OSTree deployment ${JSON.stringify(deployment)}`);
    const deployments = await this.deployments();
    const at = deployments.find((d) => d.os === this.#options.os && d.checksum === deployment);
    if (at?.index === 0) return;
    if (!at) {
      await this.#checkCommit(deployment);
      await this.#deploy(deployment);
      return;
    }
    // Going back: what was deployed after it goes, so it boots next with its own /etc.
    const ahead = deployments.slice(0, at.index);
    if (ahead.some((d) => d.os !== this.#options.os))
      throw new UprollError(
        'INSTALL_FAILED',
        `another OS's deployment boots before ${deployment}: not undeploying what is not ours`,
      );
    for (let i = 0; i < ahead.length; i++) await this.#admin('undeploy', '0');
  }

  /** Undeploys every deployment of the OS but the newest of each kept commit, and unpins the others' commits. */
  async prune(keep: readonly string[]): Promise<void> {
    await this.#init();
    const kept = new Set<string>();
    const doomed: SysrootDeployment[] = [];
    for (const d of await this.deployments()) {
      if (d.os !== this.#options.os) continue;
      if (keep.includes(d.checksum) && !kept.has(d.checksum)) kept.add(d.checksum);
      else doomed.push(d);
    }
    // From the end, so the indexes of those still to go stay right.
    for (const d of doomed.reverse()) await this.#admin('undeploy', String(d.index));
    const pins = (await this.#ostree('refs', `--repo=${this.#repo}`, PIN_PREFIX)).split('\n').filter(Boolean);
    for (const commit of pins.filter((c) => !keep.includes(c)))
      await this.#ostree('refs', `--repo=${this.#repo}`, '--delete', `${PIN_PREFIX}/${commit}`);
    // --depth=0: a kept commit's parent (the last release but one, say) is no reason to keep it.
    await this.#ostree('prune', `--repo=${this.#repo}`, '--refs-only', '--depth=0');
  }

  /** The sysroot's deployments, index 0 first (the one that boots next). */
  async deployments(): Promise<SysrootDeployment[]> {
    return parseDeployments(await this.#admin('status'));
  }

  #deploy(commit: string): Promise<string> {
    // --retain: which older deployments go is prune's decision (the rollback target stays).
    return this.#admin('deploy', `--os=${this.#options.os}`, '--retain', commit);
  }

  async #pull(commit: string): Promise<string> {
    try {
      return await runOstree(
        this.#options.ostree,
        ['pull', `--repo=${this.#repo}`, '--disable-static-deltas', REMOTE, commit],
        { code: 'DOWNLOAD_FAILED', timeoutMs: this.#options.pullTimeoutMs },
      );
    } catch (err) {
      const said = ostreeFailure((err as Error).cause);
      // ostree checks every object it fetches against its checksum; what fails that was swapped or damaged.
      if (/corrupted|checksum/i.test(said))
        throw new UprollError(
          'OSTREE_COMMIT_MISMATCH',
          `${this.#options.remoteUrl} serves other content for commit ${commit} than the verified revision names: ${said}`,
          { cause: err },
        );
      throw err;
    }
  }

  /** True when the repository has the commit and no pull of it was left half done. */
  async #holds(commit: string): Promise<boolean> {
    const present = await stat(this.#commitObject(commit)).then(
      () => true,
      () => false,
    );
    const partial = await stat(join(this.#repo, 'state', `${commit}.commitpartial`)).then(
      () => true,
      () => false,
    );
    return present && !partial;
  }

  /** The commit object's own sha256 must be the checksum the verified revision names. */
  async #checkCommit(commit: string): Promise<void> {
    const bytes = await readFile(this.#commitObject(commit)).catch(() => undefined);
    const actual = bytes && createHash('sha256').update(bytes).digest('hex');
    if (actual !== commit)
      throw new UprollError(
        'OSTREE_COMMIT_MISMATCH',
        bytes
          ? `the OSTree commit stored as ${commit} has checksum ${actual}: not deployed`
          : `OSTree commit ${commit} is not in ${this.#repo}`,
      );
  }

  #commitObject(commit: string): string {
    return join(this.#repo, 'objects', commit.slice(0, 2), `${commit.slice(2)}.commit`);
  }

  /** Checks the sysroot is there, and points the remote at the Image repository (trust: Uptane, not GPG). */
  #init(): Promise<void> {
    this.#ready ??= (async () => {
      const osDir = join(this.#options.sysroot, 'ostree', 'deploy', this.#options.os);
      const there = await stat(osDir).then(
        (s) => s.isDirectory(),
        () => false,
      );
      if (!there)
        throw new UprollError(
          'INSTALL_FAILED',
          `${this.#options.sysroot} is not an OSTree sysroot with OS ${this.#options.os} (no ${osDir}: ostree admin init-fs, os-init)`,
        );
      await this.#ostree(
        'remote',
        'add',
        `--repo=${this.#repo}`,
        '--force',
        '--no-gpg-verify',
        ...(this.#options.tlsCaFile ? [`--set=tls-ca-path=${this.#options.tlsCaFile}`] : []),
        REMOTE,
        this.#options.remoteUrl,
      );
    })();
    return this.#ready.catch((err: unknown) => {
      this.#ready = undefined; // let the next call try again
      throw err;
    });
  }

  #admin(command: string, ...args: string[]): Promise<string> {
    return this.#ostree('admin', command, `--sysroot=${this.#options.sysroot}`, ...args);
  }

  #ostree(...args: string[]): Promise<string> {
    return runOstree(this.#options.ostree, args);
  }
}

/** The commit a revision deploys; files have no place in an OSTree system deployment. */
function commitOf(revision: StateRevision): string {
  if (!revision.ostree)
    throw new UprollError(
      'REVISION_UNSUPPORTED',
      `revision ${revision.name} names no OSTree commit, which an OSTree system installer deploys`,
    );
  if (revision.artifacts.length > 0)
    throw new UprollError(
      'REVISION_UNSUPPORTED',
      `revision ${revision.name} has ${revision.artifacts.length} artifacts besides its OSTree commit; an OSTree system installer deploys the commit only`,
    );
  return revision.ostree.commit;
}
