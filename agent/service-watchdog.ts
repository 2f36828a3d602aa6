import { z } from 'zod';
import type { ServiceNotifier } from './service-notifier.ts';

const usecSchema = z.string().max(20).regex(/^\d+$/);

/**
 * How often to ping the service manager's watchdog: half of WATCHDOG_USEC,
 * as sd_watchdog_enabled(3) advises; undefined when there is no watchdog, or
 * it watches another process (WATCHDOG_PID).
 */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = usecSchema.safeParse(env['WATCHDOG_USEC']);
  if (!usec.success || Number(usec.data) === 0) return undefined;
  const watched = env['WATCHDOG_PID'];
  if (watched !== undefined && watched !== String(pid)) return undefined;
  return Math.max(1, Math.floor(Number(usec.data) / 2000));
}

export interface WatchdogOptions {
  notifier: ServiceNotifier;
  intervalMs: number;
  /** Proves the agent works; a ping is sent only after it resolved within one interval. */
  probe: () => Promise<unknown>;
  log?: (line: string) => void;
}

/** A running watchdog pinger. */
export interface Watchdog {
  stop: () => void;
}

/**
 * Pings WATCHDOG=1 every interval, each time only after `probe` answered:
 * an agent whose probe hangs or fails stops pinging, and the service manager
 * restarts it. A probe still running when the next tick comes skips it.
 */
export function startWatchdog({ notifier, intervalMs, probe, log }: WatchdogOptions): Watchdog {
  let busy = false;
  let stopped = false;
  const tick = async () => {
    if (busy || stopped) return;
    busy = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        probe(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${intervalMs} ms`)), intervalMs);
        }),
      ]);
      if (!stopped) await notifier.notify({ WATCHDOG: '1' });
    } catch (err) {
      log?.(`watchdog not pinged: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
      busy = false;
    }
  };
  const ticks = setInterval(() => void tick(), intervalMs);
  void tick();
  return {
    stop: () => {
      stopped = true;
      clearInterval(ticks);
    },
  };
}
