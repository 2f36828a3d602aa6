import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** An ext4 file system of its own, loop-mounted, for OSTree sysroots; `remove()` unmounts and detaches it. */
export interface LoopMount {
  mount: string;
  /** A new sysroot on the mount with the OS `os` (each test its own: deployment indexes are per sysroot). */
  sysroot(os?: string): Promise<string>;
  remove(): Promise<void>;
}

async function step(what: string, program: string, args: string[], need = ''): Promise<string> {
  try {
    return (await exec(program, args)).stdout;
  } catch (err) {
    const said = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
    throw new Error(`${what} failed (${program} ${args.join(' ')}): ${said}${need}`, { cause: err });
  }
}

const NEEDS_LOOP =
  '\nThis test needs root with CAP_SYS_ADMIN and loop devices (losetup, mount): `ostree admin deploy` freezes the file system holding /boot, so its sysroot must never be on the machine root file system.';

/**
 * Makes a fresh ext4 file system in a temp dir and loop-mounts it (never put
 * a sysroot on the machine's root file system: `ostree admin deploy`
 * FIFREEZEs the file system holding /boot). Each `sysroot()` on it is
 * initialised with `admin init-fs`, `os-init` and `sysroot.bootloader none`
 * (BLS entries only). Fails saying what is missing when loop devices or
 * mounts do not work, and undoes what it did.
 */
export async function createLoopMount(sizeMb = 256): Promise<LoopMount> {
  const dir = await mkdtemp(join(tmpdir(), 'uproll-sysroot-'));
  const image = join(dir, 'fs.img');
  const mount = join(dir, 'mnt');
  let device: string | undefined;
  let mounted = false;
  let count = 0;
  const remove = async () => {
    if (mounted) {
      // A process still inside (a health check) would keep it busy: detach it lazily then.
      await exec('umount', [mount]).catch(() => exec('umount', ['-l', mount]));
      mounted = false;
    }
    if (device) {
      await exec('losetup', ['-d', device]);
      device = undefined;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await step('truncate', 'truncate', ['-s', `${sizeMb}M`, image]);
    await step('mkfs.ext4', 'mkfs.ext4', ['-q', '-F', image], '\nInstall e2fsprogs.');
    device = (await step('losetup', 'losetup', ['-f', '--show', image], NEEDS_LOOP)).trim();
    await mkdir(mount);
    await step('mount', 'mount', [device, mount], NEEDS_LOOP);
    mounted = true;
  } catch (err) {
    await remove().catch(() => {});
    throw err;
  }
  return {
    mount,
    remove,
    async sysroot(os = 'uproll') {
      const sysroot = join(mount, `sysroot-${++count}`);
      await mkdir(sysroot);
      await step('ostree admin init-fs', 'ostree', ['admin', 'init-fs', sysroot], '\nInstall ostree.');
      await step('ostree admin os-init', 'ostree', ['admin', `--sysroot=${sysroot}`, 'os-init', os]);
      const repo = join(sysroot, 'ostree', 'repo');
      await step('ostree config', 'ostree', [
        'config',
        `--repo=${repo}`,
        'set',
        'sysroot.bootloader',
        'none',
      ]);
      return sysroot;
    },
  };
}
