// Resident memory of another process, read from Linux procfs.
import { readFile, writeFile } from 'node:fs/promises';
import { median } from '../stats.ts';

/**
 * VmRSS (now), VmHWM (peak since start, or since `resetPeak`), and what RSS is made of:
 * RssAnon (private memory) and RssFile (pages of mapped files: the node binary's code), in KiB.
 */
export async function readRss(
  pid: number,
): Promise<{ rssKb: number; hwmKb: number; anonKb: number; fileKb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM'), anonKb: field('RssAnon'), fileKb: field('RssFile') };
}

/**
 * Resets the process's VmHWM to its current RSS (`5` to clear_refs, Linux 4.0+),
 * so a later VmHWM is the exact peak of what ran in between, spikes between
 * samples included. Returns false where the kernel does not allow it.
 */
export async function resetPeak(pid: number): Promise<boolean> {
  return writeFile(`/proc/${pid}/clear_refs`, '5').then(
    () => true,
    () => false,
  );
}

/** Samples VmRSS of `pid` every `intervalMs` until stopped. */
export class RssSampler {
  readonly #samplesKb: number[] = [];
  readonly #timer: NodeJS.Timeout;
  #reading: Promise<void> = Promise.resolve();

  constructor(pid: number, intervalMs = 50) {
    const sample = () => {
      // One read at a time: a slow read on a busy box skips a tick instead of piling up.
      this.#reading = this.#reading.then(() =>
        readRss(pid).then(
          ({ rssKb }) => {
            if (Number.isFinite(rssKb)) this.#samplesKb.push(rssKb);
          },
          () => {}, // the process has exited: nothing to sample
        ),
      );
    };
    sample();
    this.#timer = setInterval(sample, intervalMs);
  }

  /** Stops sampling; returns the samples, in KiB, in order. */
  async stop(): Promise<number[]> {
    clearInterval(this.#timer);
    await this.#reading;
    return [...this.#samplesKb];
  }
}

/** Median VmRSS of `pid` over `durationMs`, sampled every `intervalMs`, in KiB. */
export async function medianRss(pid: number, durationMs: number, intervalMs = 50): Promise<number> {
  const sampler = new RssSampler(pid, intervalMs);
  await sleep(durationMs);
  const samples = await sampler.stop();
  if (samples.length === 0) throw new Error(`process ${pid} could not be sampled (has it exited?)`);
  return median(samples);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
