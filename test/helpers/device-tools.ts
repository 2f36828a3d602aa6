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
  crun: 'crun',
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

/**
 * The OCI runtimes the app tests run containers with, as the agent's
 * `ociRuntime` command. crun 1.8.1 refuses this machine's hybrid cgroup
 * layout, so it runs with the cgroup2 mount unmounted in a mount namespace
 * of its own (../shared/DEVICE-TOOLS.md); on a v1-only or v2-only device
 * it is plain `crun`.
 */
export const OCI_RUNTIMES: readonly (readonly [name: string, command: readonly [string, ...string[]]])[] = [
  ['runc', ['runc']],
  [
    'crun',
    ['unshare', '-m', 'sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun "$@"', 'crun'],
  ],
];
