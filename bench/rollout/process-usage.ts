// Memory and CPU of processes, read from Linux procfs.
import { readFile, writeFile } from 'node:fs/promises';

/** Linux reports CPU times in clock ticks of USER_HZ, which is 100 on every mainstream architecture. */
const TICKS_PER_SECOND = 100;

/** VmRSS (now) and VmHWM (peak since start or since the last reset), in KiB. */
export async function readMemory(pid: number): Promise<{ rssKb: number; hwmKb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
}

/** User + system CPU time the process has used, in seconds (threads included). */
export async function readCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime, stime: fields 14 and 15
}

/** Resets VmHWM to the current RSS (Linux 4.0+); false where the kernel does not allow it. */
export function resetPeak(pid: number): Promise<boolean> {
  return writeFile(`/proc/${pid}/clear_refs`, '5').then(
    () => true,
    () => false,
  );
}

export interface ProcessUsage {
  pid: number;
  /** Highest of VmHWM (when it could be reset at the start) and the sampled VmRSS, in KiB. */
  peakRssKb: number;
  /** Whether the peak is the kernel's exact VmHWM over the period, or only the highest sample. */
  peakSource: 'VmHWM' | 'sampled VmRSS';
  endRssKb: number;
  cpuSeconds: number;
}

/**
 * Follows the memory and CPU of some processes over a period: VmHWM reset at
 * the start (so the peak counts only the period), VmRSS sampled as a check,
 * CPU time taken at both ends.
 */
export class UsageMonitor<Name extends string> {
  readonly #pids: Record<Name, number>;
  readonly #peakSampled = new Map<Name, number>();
  readonly #cpuAtStart = new Map<Name, number>();
  readonly #hwmReset = new Map<Name, boolean>();
  #timer: NodeJS.Timeout | undefined;
  #reading: Promise<unknown> = Promise.resolve();

  constructor(pids: Record<Name, number>) {
    this.#pids = pids;
  }

  /** One sample a second: VmHWM is exact, the samples only check it, and reading /proc costs this process CPU too. */
  async start(intervalMs = 1000): Promise<void> {
    for (const [name, pid] of this.#entries()) {
      this.#hwmReset.set(name, await resetPeak(pid));
      this.#cpuAtStart.set(name, await readCpuSeconds(pid));
    }
    const sample = () => {
      // One round at a time: a slow read on a busy box skips a tick instead of piling up.
      this.#reading = this.#reading.then(() =>
        Promise.all(
          this.#entries().map(async ([name, pid]) => {
            const { rssKb } = await readMemory(pid).catch(() => ({ rssKb: NaN }));
            if (Number.isFinite(rssKb))
              this.#peakSampled.set(name, Math.max(rssKb, this.#peakSampled.get(name) ?? 0));
          }),
        ),
      );
    };
    sample();
    this.#timer = setInterval(sample, intervalMs);
  }

  async stop(): Promise<Record<Name, ProcessUsage>> {
    clearInterval(this.#timer);
    await this.#reading;
    const out = {} as Record<Name, ProcessUsage>;
    for (const [name, pid] of this.#entries()) {
      const { rssKb, hwmKb } = await readMemory(pid);
      const sampled = Math.max(this.#peakSampled.get(name) ?? 0, rssKb);
      const exact = this.#hwmReset.get(name) === true;
      out[name] = {
        pid,
        peakRssKb: exact ? Math.max(hwmKb, sampled) : sampled,
        peakSource: exact ? 'VmHWM' : 'sampled VmRSS',
        endRssKb: rssKb,
        cpuSeconds: (await readCpuSeconds(pid)) - (this.#cpuAtStart.get(name) ?? 0),
      };
    }
    return out;
  }

  #entries(): [Name, number][] {
    return Object.entries(this.#pids) as [Name, number][];
  }
}
