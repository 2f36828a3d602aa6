import { EventEmitter } from 'node:events';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { parseJson, type Clock } from '../core/index.ts';
import { writeFileAtomic } from '../adapters/fs/index.ts';
import { PRIVATE } from './data-dir.ts';

/** What a device tells the fleet: a step of an update, or a signed manifest for the Director. */
export type ReportKind = 'telemetry' | 'manifest';

export interface JournalEntry {
  /** Position in the journal: strictly increasing, never reused, even across restarts. */
  seq: number;
  kind: ReportKind;
  body: unknown;
}

const entrySchema = z.object({
  seq: z.int().min(1),
  kind: z.enum(['telemetry', 'manifest']),
  body: z.unknown(),
});
const cursorSchema = z.object({ acked: z.int().min(0) });
const highWaterSchema = z.object({ last: z.int().min(0) });

/** Undelivered reports kept at most; past it the oldest are dropped (and said so). */
export const MAX_JOURNAL_ENTRIES = 10_000;
const MAX_ENTRY_BYTES = 128 * 1024;
/** Entry files: the sequence number, zero-padded (12 digits before sequences started at the clock). */
const NAME = /^(\d{12,16})\.json$/;

/**
 * The device's reports on disk, in order, until a cloud client confirms it
 * delivered them: each report is one file written atomically before anyone
 * hears of it, so a report outlives a crash, a reboot or a NATS outage, and
 * its sequence number (never reused) lets the server drop a repeat.
 */
export class ReportJournal {
  readonly dir: string;
  readonly #events = new EventEmitter();
  #lastSeq: number | undefined;
  #lock: Promise<unknown> = Promise.resolve();

  readonly #now: Clock;

  /**
   * `now`: the device's clock. A journal with no history (a new device, or a
   * data directory wiped or replaced) numbers its first report with the
   * time in milliseconds, so its manifest counters stay above those the
   * Director accepted from this device before: starting again at 1 would
   * have every signed report refused as a replay (REPLAYED_REPORT) until the
   * device was provisioned again.
   */
  constructor(dataDir: string, now: Clock) {
    this.dir = join(dataDir, 'reports');
    this.#now = now;
  }

  /** Calls `listener` with every entry appended from now on; returns a function that stops it. */
  onAppend(listener: (entry: JournalEntry) => void): () => void {
    this.#events.on('append', listener);
    return () => this.#events.off('append', listener);
  }

  /** Appends a report; `build` gets its sequence number (a manifest counter that only grows). */
  append(kind: ReportKind, build: (seq: number) => unknown): Promise<JournalEntry> {
    const run = this.#lock.then(async () => {
      const seq = (await this.#last()) + 1;
      const entry: JournalEntry = { seq, kind, body: await build(seq) };
      await mkdir(this.dir, { recursive: true });
      await writeFileAtomic(join(this.dir, fileName(seq)), JSON.stringify(entry), PRIVATE);
      // Kept apart from the entries and the cursor: a torn entry or cursor never gives its number away.
      await writeFileAtomic(join(this.dir, 'last-seq.json'), JSON.stringify({ last: seq }), PRIVATE);
      this.#lastSeq = seq;
      await this.#trim();
      this.#events.emit('append', entry);
      return entry;
    });
    this.#lock = run.catch(() => {});
    return run;
  }

  /** Undelivered entries after `seq`, oldest first. A damaged entry file is skipped and removed. */
  async after(seq: number): Promise<JournalEntry[]> {
    const entries: JournalEntry[] = [];
    for (const [n, name] of await this.#files()) {
      if (n <= seq) continue;
      try {
        const bytes = await readFile(join(this.dir, name));
        const {
          seq: n,
          kind,
          body,
        } = parseJson(entrySchema, bytes, { maxBytes: MAX_ENTRY_BYTES, what: name });
        entries.push({ seq: n, kind, body });
      } catch {
        await rm(join(this.dir, name), { force: true }); // torn by a storage fault: nothing to deliver
      }
    }
    return entries;
  }

  /** The last entry a cloud client confirmed delivered. */
  async acked(): Promise<number> {
    const bytes = await readFile(join(this.dir, 'cursor.json')).catch(() => undefined);
    if (!bytes) return 0;
    try {
      return parseJson(cursorSchema, bytes, { maxBytes: 1024, what: 'report cursor' }).acked;
    } catch {
      return 0; // a damaged cursor re-delivers; the server drops repeats by sequence number
    }
  }

  /** Confirms delivery of every entry up to `seq`: they are deleted. */
  ack(seq: number): Promise<void> {
    const run = this.#lock.then(async () => {
      if (seq <= (await this.acked())) return;
      await mkdir(this.dir, { recursive: true });
      await writeFileAtomic(join(this.dir, 'cursor.json'), JSON.stringify({ acked: seq }), PRIVATE);
      for (const [n, name] of await this.#files())
        if (n <= seq) await rm(join(this.dir, name), { force: true });
    });
    this.#lock = run.catch(() => {});
    return run;
  }

  async #last(): Promise<number> {
    if (this.#lastSeq === undefined) {
      const files = await this.#files();
      const known = Math.max(files.at(-1)?.[0] ?? 0, await this.acked(), await this.#highWater());
      this.#lastSeq = known > 0 ? known : this.#now().getTime();
    }
    return this.#lastSeq;
  }

  async #highWater(): Promise<number> {
    const bytes = await readFile(join(this.dir, 'last-seq.json')).catch(() => undefined);
    if (!bytes) return 0;
    try {
      return parseJson(highWaterSchema, bytes, { maxBytes: 1024, what: 'report high-water mark' }).last;
    } catch {
      return 0; // damaged too: the entries and the cursor still bound it
    }
  }

  async #trim(): Promise<void> {
    const files = await this.#files();
    for (const [, name] of files.slice(0, Math.max(0, files.length - MAX_JOURNAL_ENTRIES)))
      await rm(join(this.dir, name), { force: true });
  }

  async #files(): Promise<[number, string][]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names
      .map((name) => [Number(NAME.exec(name)?.[1] ?? NaN), name] as [number, string])
      .filter(([n]) => Number.isInteger(n))
      .sort((x, y) => x[0] - y[0]);
  }
}

function fileName(seq: number): string {
  return `${String(seq).padStart(16, '0')}.json`;
}
