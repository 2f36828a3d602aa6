/**
 * Stable error codes. The same code travels as a Temporal
 * `ApplicationFailure.type`, in NATS replies and telemetry, and in CLI exit
 * messages, so scripts and operators can act on it.
 */
export type UprollErrorCode =
  /** Untrusted input failed validation. */
  | 'INVALID_INPUT'
  /** Untrusted input was larger than its byte cap. */
  | 'INPUT_TOO_LARGE'
  /** Downloaded bytes do not have the sha256 the command names. */
  | 'HASH_MISMATCH'
  /** Downloaded bytes are longer or shorter than the command names (endless data). */
  | 'LENGTH_MISMATCH'
  /** The artifact could not be fetched (network, HTTP status). */
  | 'DOWNLOAD_FAILED'
  /** Writing or switching a slot failed. */
  | 'INSTALL_FAILED'
  /** The new revision did not pass its health check; the device rolled back. */
  | 'HEALTH_CHECK_FAILED'
  /** The device is not connected or did not answer a command. */
  | 'DEVICE_UNREACHABLE'
  /** The device refused a command (busy, invalid). */
  | 'COMMAND_REJECTED'
  /** A phase of an update did not complete within its time limit. */
  | 'PHASE_TIMEOUT'
  /** An append to the event log lost an optimistic-concurrency race. */
  | 'EVENT_CONFLICT'
  /** A required program (temporal, nats-server) is not installed. */
  | 'BINARY_NOT_FOUND'
  /** A port the local stack needs is already taken. */
  | 'PORT_IN_USE'
  /** The local stack is not running or not reachable. */
  | 'STACK_NOT_RUNNING'
  /** A server process did not become ready in time. */
  | 'STARTUP_FAILED';

/** Codes whose failure will not change by trying again. */
const PERMANENT: ReadonlySet<UprollErrorCode> = new Set([
  'INVALID_INPUT',
  'INPUT_TOO_LARGE',
  'HASH_MISMATCH',
  'LENGTH_MISMATCH',
  'COMMAND_REJECTED',
  'HEALTH_CHECK_FAILED',
]);

/** Base error of the project: a stable `code` plus a human message. */
export class UprollError extends Error {
  readonly code: UprollErrorCode;

  constructor(code: UprollErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UprollError';
    this.code = code;
  }
}

/** True when retrying an operation that failed with `code` cannot help. */
export function isPermanent(code: UprollErrorCode): boolean {
  return PERMANENT.has(code);
}

/** Narrows an unknown thrown value to an {@link UprollError}, optionally of one code. */
export function isUprollError(value: unknown, code?: UprollErrorCode): value is UprollError {
  return value instanceof UprollError && (code === undefined || value.code === code);
}
