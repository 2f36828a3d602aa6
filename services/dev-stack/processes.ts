import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { open, readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../../adapters/fs/index.ts';

/** A server process started in the background, its output appended to a log file. */
export async function startBackground(options: {
  command: string;
  args: string[];
  logFile: string;
  pidFile: string;
  cwd?: string;
}): Promise<number> {
  const log = await open(options.logFile, 'a');
  try {
    const child = spawn(options.command, options.args, {
      cwd: options.cwd,
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => resolve(child.pid ?? 0));
    });
    child.unref();
    await writeFileAtomic(options.pidFile, `${pid}\n`);
    return pid;
  } finally {
    await log.close();
  }
}

/** The pid recorded in `pidFile` when that process is alive and runs `binaryName`. */
export async function runningPid(pidFile: string, binaryName: string): Promise<number | undefined> {
  const text = await readFile(pidFile, 'utf8').catch(() => undefined);
  const pid = Number.parseInt(text ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  // A recycled pid belongs to another program: never signal that one.
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  const argv0 = cmdline.split('\0')[0] ?? '';
  return argv0.endsWith(binaryName) ? pid : undefined;
}

/**
 * Stops the process of `pidFile` (SIGTERM, then SIGKILL after `graceMs`; only
 * SIGKILL, a crash, for 0) if it is still the program we started, and removes the pid file. Returns whether a
 * process was stopped.
 */
export async function stopByPidFile(pidFile: string, binaryName: string, graceMs = 10_000): Promise<boolean> {
  const pid = await runningPid(pidFile, binaryName);
  if (pid !== undefined) {
    if (graceMs > 0) signal(pid, 'SIGTERM');
    const deadline = performance.now() + graceMs;
    while (isAlive(pid) && performance.now() < deadline) await sleep(50);
    if (isAlive(pid)) signal(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(20);
  }
  await rm(pidFile, { force: true });
  return pid !== undefined;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers signal 0; it is not running.
    return !isZombie(pid);
  } catch {
    return false;
  }
}

function isZombie(pid: number): boolean {
  try {
    // Synchronous on purpose: /proc reads are cheap and this is a tight poll.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.split(') ')[1]?.startsWith('Z') ?? false;
  } catch {
    return false;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}
