import { DefaultLogger, Runtime, type LogEntry, type LogLevel, type LogMetadata } from '@temporalio/worker';

let installed = false;

/**
 * A workflow that failed as it meant to (an ApplicationFailure: a device
 * update that ended failed with its code, which the event log records with
 * the device and the reason): not worth a warning with a stack trace each.
 * A serve log had 242 lines of them for one wrong URL.
 */
export function isIntendedWorkflowFailure(message: string, meta?: LogMetadata): boolean {
  const error: unknown = meta?.['error'];
  return (
    message === 'Workflow failed' &&
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === 'ApplicationFailure'
  );
}

/** Where the SDK's lines go instead of its own stderr format: the process's log. */
export type RuntimeLogSink = (entry: LogEntry) => void;

/** The SDK's logger, less the failures workflows intend. */
class RuntimeLogger extends DefaultLogger {
  override log(level: LogLevel, message: string, meta?: LogMetadata): void {
    if (!isIntendedWorkflowFailure(message, meta)) super.log(level, message, meta);
  }
}

/**
 * Installs the Temporal runtime with a logger at `level` (the SDK logs every
 * worker state change at INFO), writing to `sink` when given. Only the first
 * call in a process counts: the runtime can be installed once.
 */
export function installTemporalRuntime(level: LogLevel = 'WARN', sink?: RuntimeLogSink): void {
  if (installed) return;
  // The SDK core's own lines (retries while the server is away, ...) are
  // forwarded to the same logger and level; by default they go to stdout
  // with colour codes, which would corrupt `--json`.
  Runtime.install({
    logger: sink ? new RuntimeLogger(level, sink) : new RuntimeLogger(level),
    // By default the SDK shuts every worker down on SIGINT/SIGTERM behind the
    // process's back, so the process's own graceful stop then found its worker
    // draining (IllegalStateError). The process owns its signals.
    shutdownSignals: [],
    telemetryOptions: { logging: { forward: {}, filter: { core: level, other: 'ERROR' } } },
  });
  installed = true;
}
