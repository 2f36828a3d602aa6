/** The default floor: fewer bytes than this per second over a whole window is a slow-retrieval attack. */
export const SLOW_RETRIEVAL_DEFAULTS = { minBytesPerSecond: 1024, windowMs: 30_000 };

/**
 * Aborts a transfer that receives fewer than `minBytesPerSecond` bytes over
 * a whole window (TUF's slow-retrieval attack, or a link that died). A
 * server that sends headers and then nothing trips it too.
 */
export function slowRetrievalWatchdog(abort: AbortController, minBytesPerSecond: number, windowMs: number) {
  let inWindow = 0;
  let tripped = false;
  const floor = (minBytesPerSecond * windowMs) / 1000;
  const timer = setInterval(() => {
    if (inWindow < floor) {
      tripped = true;
      abort.abort(new Error('slow retrieval'));
    }
    inWindow = 0;
  }, windowMs);
  timer.unref();
  return {
    get tripped() {
      return tripped;
    },
    received(bytes: number) {
      inWindow += bytes;
    },
    stop() {
      clearInterval(timer);
    },
  };
}
