import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: ((options: { type: 'minor' }) => void) | null | undefined;

/**
 * Asks V8 for a young-generation collection now (about a millisecond).
 * Streaming a large image allocates a fresh buffer per network chunk, and
 * V8 only collects them after tens of megabytes; a device with little
 * memory cannot wait that long, so long transfers call this every few
 * megabytes. A no-op where the runtime does not allow it.
 */
export function collectGarbage(): void {
  if (collect === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      collect = runInNewContext('gc') as (options: { type: 'minor' }) => void;
    } catch {
      collect = null;
    }
  }
  collect?.({ type: 'minor' });
}

/** Calls `collectGarbage` once per `everyBytes` fed to it. */
export function garbageCollectorPacer(everyBytes = 4 * 1024 * 1024): (bytes: number) => void {
  let since = 0;
  return (bytes) => {
    since += bytes;
    if (since < everyBytes) return;
    since = 0;
    collectGarbage();
  };
}
