import { execFile } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  ostreeRefSchema,
  parseValue,
  sha256Schema,
  UprollError,
  type UprollErrorCode,
} from '../../core/index.ts';

const exec = promisify(execFile);
/** Bytes of an os-release file read to check a tree (they are a few hundred). */
const MAX_OS_RELEASE_BYTES = 64 * 1024;

/**
 * The Image repository's OSTree repository, `<repository dir>/ostree` in
 * `archive` mode (one compressed file per object), which the repository's
 * HTTP server serves as `/ostree/` for devices to pull commits from by
 * checksum. Trust in a commit comes from the signed state revision that
 * names its checksum, not from OSTree's GPG signatures.
 */
export class ImageOstreeRepo {
  readonly dir: string;
  readonly #ostree: string;

  constructor(imageRepoDir: string, options: { ostree?: string } = {}) {
    this.dir = join(imageRepoDir, 'ostree');
    this.#ostree = options.ostree ?? '/usr/bin/ostree';
  }

  /** Creates the repository unless it exists. */
  async init(): Promise<void> {
    if (await isFile(join(this.dir, 'config'))) return;
    await this.#run(['init', `--repo=${this.dir}`, '--mode=archive']);
  }

  /**
   * Commits the tree `dir` and returns its checksum; its parent is the last
   * commit of `parentRef` when there is one. No ref moves: `setRef` does that
   * once the revision naming the commit is published. Files are owned by
   * root on the device whoever commits them; the tree must be deployable
   * (kernel, initramfs, os-release).
   */
  async commitTree(tree: string, options: { parentRef?: string; subject: string }): Promise<string> {
    await assertDeployableTree(tree);
    await this.init();
    const parent = options.parentRef === undefined ? undefined : await this.resolve(options.parentRef);
    const out = await this.#run([
      'commit',
      `--repo=${this.dir}`,
      '--orphan',
      ...(parent ? [`--parent=${parent}`] : []),
      `--tree=dir=${tree}`,
      `--subject=${options.subject}`,
      '--owner-uid=0',
      '--owner-gid=0',
    ]);
    return sha256Schema.parse(out.trim());
  }

  /**
   * Copies a commit (a checksum or a ref of `fromRepo`) with the objects it
   * needs from another local repository and returns its checksum.
   */
  async importCommit(fromRepo: string, commit: string): Promise<string> {
    if (!/^[0-9a-f]{64}$/.test(commit)) parseValue(ostreeRefSchema, commit, 'OSTree commit or ref');
    await this.init();
    const checksum = (await this.#run(['rev-parse', `--repo=${fromRepo}`, commit], 'INVALID_INPUT')).trim();
    await this.#run(['pull-local', `--repo=${this.dir}`, fromRepo, checksum]);
    return sha256Schema.parse(checksum);
  }

  /** Points `ref` at a commit of the repository. */
  async setRef(ref: string, checksum: string): Promise<void> {
    parseValue(ostreeRefSchema, ref, 'OSTree ref');
    await this.#run(['refs', `--repo=${this.dir}`, '--force', `--create=${ref}`, checksum]);
  }

  /** The commit `ref` names, or undefined when there is no such ref. */
  async resolve(ref: string): Promise<string | undefined> {
    parseValue(ostreeRefSchema, ref, 'OSTree ref');
    const out = await this.#run(['rev-parse', `--repo=${this.dir}`, ref]).catch(() => undefined);
    return out?.trim();
  }

  /** What a commit's tree is (root contents and metadata checksums): equal for commits of the same files. */
  async treeOf(checksum: string): Promise<string> {
    const out = await this.#run(['ls', `--repo=${this.dir}`, '-d', '-C', checksum, '/']);
    return out.trim().split(/\s+/).slice(0, -1).join(' ');
  }

  /** True when the repository holds the commit (devices could pull it). */
  async hasCommit(checksum: string): Promise<boolean> {
    return isFile(join(this.dir, 'objects', checksum.slice(0, 2), `${checksum.slice(2)}.commit`));
  }

  async #run(args: string[], code: UprollErrorCode = 'INTERNAL_ERROR'): Promise<string> {
    try {
      return (await exec(this.#ostree, args, { maxBuffer: 16 * 1024 * 1024 })).stdout;
    } catch (err) {
      const said = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
      throw new UprollError(code, `ostree ${args[0] ?? ''} failed: ${said}`, { cause: err });
    }
  }
}

/**
 * What `ostree admin deploy` needs of a tree (DEVICE-TOOLS.md): a kernel and
 * initramfs under `usr/lib/modules/<kver>/`, `usr/etc/`, and an os-release
 * naming `ID` or `PRETTY_NAME`. Checked before committing, so that a
 * release fails here rather than on every device.
 */
export async function assertDeployableTree(tree: string): Promise<void> {
  const refuse = (why: string) => {
    throw new UprollError('INVALID_INPUT', `${tree} is not a deployable OS tree: ${why}`);
  };
  if (!(await isDirectory(tree))) throw new UprollError('FILE_NOT_FOUND', `no directory ${tree}`);
  const modules = join(tree, 'usr', 'lib', 'modules');
  const kernels = [];
  for (const kver of await readdir(modules).catch(() => [])) {
    if (
      (await isFile(join(modules, kver, 'vmlinuz'))) &&
      (await isFile(join(modules, kver, 'initramfs.img')))
    )
      kernels.push(kver);
  }
  if (kernels.length === 0) refuse('no usr/lib/modules/<kver>/vmlinuz with initramfs.img');
  if (!(await isDirectory(join(tree, 'usr', 'etc')))) refuse('no usr/etc/');
  let osRelease: string | undefined;
  for (const path of ['usr/lib/os-release', 'usr/etc/os-release']) {
    const file = join(tree, path);
    if (!(await isFile(file))) continue;
    if ((await stat(file)).size > MAX_OS_RELEASE_BYTES) refuse(`${path} is larger than 64 KiB`);
    osRelease = await readFile(file, 'utf8');
    break;
  }
  if (osRelease === undefined || !/^(ID|PRETTY_NAME)=\S/m.test(osRelease))
    refuse('no usr/lib/os-release (or usr/etc/os-release) with ID or PRETTY_NAME');
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}
