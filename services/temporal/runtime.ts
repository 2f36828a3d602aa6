import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

let installed = false;

/**
 * Installs the Temporal runtime with a logger at `level` (the SDK logs every
 * worker state change at INFO). Only the first call in a process counts: the
 * runtime can be installed once.
 */
export function installTemporalRuntime(level: LogLevel = 'WARN'): void {
  if (installed) return;
  // The SDK core's own lines (retries while the server is away, ...) are
  // forwarded to the same logger and level; by default they go to stdout
  // with colour codes, which would corrupt `--json`.
  Runtime.install({
    logger: new DefaultLogger(level),
    // By default the SDK shuts every worker down on SIGINT/SIGTERM behind the
    // process's back, so the process's own graceful stop then found its worker
    // draining (IllegalStateError). The process owns its signals.
    shutdownSignals: [],
    telemetryOptions: { logging: { forward: {}, filter: { core: level, other: 'ERROR' } } },
  });
  installed = true;
}
