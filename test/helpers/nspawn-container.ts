import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A root for a container: an overlay of the host's / whose upper layer is a
 * tmpfs the test mounts, so whatever the container (or the test) writes
 * under `root` lands in memory, never in the host's /etc or /usr. `report`
 * is a directory of the tmpfs the container sees as /uproll-report.
 */
export interface OverlayRoot {
  root: string;
  report: string;
  /** Unmounts the overlay and the tmpfs; safe to call twice. */
  close(): Promise<void>;
}

export async function mountOverlayRoot(): Promise<OverlayRoot> {
  if (process.getuid?.() !== 0)
    throw new Error('mounting a tmpfs and an overlay of / needs root (CAP_SYS_ADMIN); run the test as root');
  const base = await mkdtemp(join(tmpdir(), 'uproll-nspawn-'));
  const mounted: string[] = [];
  const close = async () => {
    while (mounted.length > 0) await unmount(mounted.pop()!);
    await rmdir(base).catch(() => {});
  };
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=256m,mode=0700', 'uproll-nspawn', base]);
    mounted.push(base);
    for (const dir of ['upper', 'work', 'root', 'report']) await mkdir(join(base, dir));
    const root = join(base, 'root');
    await run('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=/,upperdir=${join(base, 'upper')},workdir=${join(base, 'work')}`,
      root,
    ]);
    mounted.push(root);
    return { root, report: join(base, 'report'), close };
  } catch (err) {
    await close();
    throw new Error(`cannot mount the container's overlay root: ${(err as Error).message}`, { cause: err });
  }
}

/** Unmounts `path`; if something still holds it after a few tries, detaches it (umount -l). */
async function unmount(path: string): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await run('umount', [path]);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200 * (attempt + 1))); // EBUSY: a process is still exiting
    }
  }
  await run('umount', ['-l', path]);
}

export interface BootedContainer {
  /** Everything the container printed on its console. */
  output: string[];
  /** Resolves when systemd-nspawn exited, with its exit code (or the signal that ended it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILLs the container's init and systemd-nspawn, by pid, and waits for it to exit. */
  kill(): Promise<void>;
}

/**
 * Boots systemd as PID 1 in systemd-nspawn on `root`, into `target` only
 * (never the host's default target: its enabled services would start inside
 * and its shutdown would hang), without network, not registered with machined.
 */
export function bootContainer(root: string, options: { target: string; binds: string[] }): BootedContainer {
  const args = [
    '--register=no',
    '--keep-unit',
    '--private-network',
    '--quiet',
    `--machine=uproll-test-${randomBytes(3).toString('hex')}`,
    '-D',
    root,
    ...options.binds.map((bind) => `--bind=${bind}`),
    '-b',
    `systemd.unit=${options.target}`,
  ];
  const child = spawn('systemd-nspawn', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const collect = (chunk: Buffer) => output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', (err) =>
      reject(new Error(`cannot run systemd-nspawn (install systemd-container): ${err.message}`)),
    );
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  return {
    output,
    exited,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      // The container's init is nspawn's child in a PID namespace of its own: killing it ends the namespace.
      for (const pid of await childrenOf(child.pid)) killQuietly(pid);
      killQuietly(child.pid);
      await once(child, 'close');
    },
  };
}

async function childrenOf(pid: number): Promise<number[]> {
  const listed = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return listed.split(' ').filter(Boolean).map(Number);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}
