import type { ServerLog } from './server-log.ts';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Listens for SIGINT and SIGTERM for as long as a long-running command runs
 * and stops. `requested` resolves on the first one; a later one is noted and
 * ignored, so a second Ctrl-C or `kill` cannot cut a graceful stop half-way.
 * Call `release()` once the command has stopped.
 */
export function listenForStopSignals(log: ServerLog) {
  let requested: NodeJS.Signals | undefined;
  const { promise, resolve } = Promise.withResolvers<NodeJS.Signals>();
  const onSignal = (signal: NodeJS.Signals) => {
    if (requested) {
      log.notice(`already stopping (${signal} ignored)`);
      return;
    }
    requested = signal;
    log.notice(`${signal}, stopping`);
    resolve(signal);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  return {
    requested: promise,
    release(): void {
      for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
    },
  };
}
