import { randomUUID } from 'node:crypto';
import type { Clock, DomainEvent } from '../../core/index.ts';
import type { EventLog } from './event-log.ts';

/** A refusal to put on the log: an event without its time, and who caused it. */
export type Refusal = Omit<DomainEvent<string, Record<string, unknown>>, 'at'> & {
  /** Who it came from (a device id, a token's subject, a remote address): sampled per source. */
  source: string;
};

export interface RefusalSamplerOptions {
  eventLog: Pick<EventLog, 'append'>;
  now: Clock;
  /** At most one event per type and source in this window (default one minute). */
  windowMs?: number;
  /** Sources followed at once; refusals from any others are counted together under `*`. */
  maxSources?: number;
  /** Told when a summary event could not be appended (its count is lost). */
  onError?: (err: unknown) => void;
}

interface Window {
  /** Refusals since the last event. */
  count: number;
  since: string;
  last: Refusal;
  timer: NodeJS.Timeout;
}

/**
 * Keeps refusals (junk reports, refused API calls) from swamping the event
 * log, which is kept forever: the first refusal from a source is an event at
 * once (`data.count` 1); those that follow within the window are counted,
 * and at its end one event says how many (`data.count`, from `data.since`).
 * A source that keeps on gets one event per window; a flood of 10,000 in a
 * minute is two events. Refusals are attacker-driven, so the sources followed
 * are capped too.
 */
export class RefusalSampler {
  readonly #options: RefusalSamplerOptions;
  readonly #windows = new Map<string, Window>();

  constructor(options: RefusalSamplerOptions) {
    this.#options = options;
  }

  /** Records a refusal; resolves once its event is on the log (at once when only counted). */
  async record(refusal: Refusal): Promise<void> {
    let key = `${refusal.type}\u0000${refusal.source}`;
    if (!this.#windows.has(key) && this.#windows.size >= (this.#options.maxSources ?? 10_000)) {
      refusal = { ...refusal, source: '*' };
      key = `${refusal.type}\u0000*`;
    }
    const open = this.#windows.get(key);
    if (open) {
      open.count++;
      open.last = refusal;
      return;
    }
    this.#open(key, refusal);
    await this.#append(refusal, { count: 1 });
  }

  /** Appends what is counted and not told yet, and stops the windows' timers. */
  async close(): Promise<void> {
    const windows = [...this.#windows.values()];
    this.#windows.clear();
    for (const window of windows) {
      clearTimeout(window.timer);
      if (window.count > 0) await this.#summarize(window);
    }
  }

  #open(key: string, refusal: Refusal): void {
    const window: Window = {
      count: 0,
      since: this.#options.now().toISOString(),
      last: refusal,
      timer: setTimeout(() => void this.#end(key), this.#options.windowMs ?? 60_000),
    };
    window.timer.unref();
    this.#windows.set(key, window);
  }

  async #end(key: string): Promise<void> {
    const window = this.#windows.get(key);
    if (!window) return;
    this.#windows.delete(key);
    if (window.count === 0) return;
    this.#open(key, window.last); // the source keeps on: a new window, at most one event each
    await this.#summarize(window).catch((err: unknown) => this.#options.onError?.(err));
  }

  #summarize(window: Window): Promise<void> {
    return this.#append(window.last, { count: window.count, since: window.since });
  }

  async #append(refusal: Refusal, counted: { count: number; since?: string }): Promise<void> {
    const { source, ...event } = refusal;
    await this.#options.eventLog.append(
      { ...event, at: this.#options.now().toISOString(), data: { ...event.data, source, ...counted } },
      { msgId: `refusal/${randomUUID()}` },
    );
  }
}
