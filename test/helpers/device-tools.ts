import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The Debian package each device tool the tests use comes from. */
const PACKAGES: Record<string, string> = {
  fw_printenv: 'libubootenv-tool',
  fw_setenv: 'libubootenv-tool',
  mkenvimage: 'u-boot-tools',
  'grub-editenv': 'grub-common',
  'grub-emu': 'grub-emu',
  'mkfs.ext2': 'e2fsprogs',
  'mkfs.ext4': 'e2fsprogs',
  debugfs: 'e2fsprogs',
  e2fsck: 'e2fsprogs',
  truncate: 'coreutils',
  sha256sum: 'coreutils',
  umoci: 'umoci',
  runc: 'runc',
  chroot: 'coreutils',
  busybox: 'busybox-static',
};

/**
 * Runs a device tool, failing with a message that names its Debian package
 * when the machine lacks it (a test that needs a tool fails, it is not skipped).
 */
export async function tool(program: string, args: readonly string[]) {
  try {
    const child = run(program, args, { maxBuffer: 16 * 1024 * 1024 });
    child.child.stdin?.end();
    return await child;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new Error(
        `this test needs ${program} (Debian package ${PACKAGES[program] ?? 'unknown'}): apt-get install -y ${PACKAGES[program] ?? program}`,
        { cause: err },
      );
    throw err;
  }
}
