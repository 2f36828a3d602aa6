/**
 * What a rollout makes of a device update that failed: transient failures are
 * retried, verification failures are never retried (they pause the rollout
 * and raise a security event), offline devices are pending (they count for
 * nothing), the rest count against the gate.
 */
export type FailureClass = 'transient' | 'verification' | 'unhealthy' | 'offline' | 'other';

/** Everything the project decides from an error code. */
export interface CodeInfo {
  /** What a rollout makes of a device update that failed with it. */
  readonly class: FailureClass;
  /** Trying again cannot help: bad input, refusals, and every failed trust check but a slow link. */
  readonly permanent: boolean;
  /** A failed trust check (TUF / Uptane), which names the attack it indicates. */
  readonly attack: boolean;
  /** The management API's answer to a call that failed with it. */
  readonly httpStatus: number;
}

/**
 * Stable error codes, each with everything decided from it. The same code
 * travels as a Temporal `ApplicationFailure.type`, in NATS replies and
 * telemetry, and in CLI exit messages, so scripts and operators can act on
 * it. A code is added here or nowhere: the union below is this table's keys,
 * so a code nobody classified does not compile.
 */
export const ERROR_CODES = {
  /** Untrusted input failed validation. */
  INVALID_INPUT: { class: 'other', permanent: true, attack: false, httpStatus: 400 },
  /** Untrusted input was larger than its byte cap. */
  INPUT_TOO_LARGE: { class: 'other', permanent: true, attack: false, httpStatus: 413 },
  /** Downloaded bytes do not have the sha256 the command names. */
  HASH_MISMATCH: { class: 'verification', permanent: true, attack: true, httpStatus: 422 },
  /** Downloaded bytes are longer or shorter than the command names (endless data). */
  LENGTH_MISMATCH: { class: 'verification', permanent: true, attack: true, httpStatus: 422 },
  /** The artifact could not be fetched (network, HTTP status). */
  DOWNLOAD_FAILED: { class: 'transient', permanent: false, attack: false, httpStatus: 422 },
  /** Writing or switching a slot failed. */
  INSTALL_FAILED: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** The device's installer cannot install this kind of revision (an OSTree commit on A/B slots, files on an OSTree system). */
  REVISION_UNSUPPORTED: { class: 'other', permanent: true, attack: false, httpStatus: 422 },
  /** The new revision did not pass its health check; the device rolled back. */
  HEALTH_CHECK_FAILED: { class: 'unhealthy', permanent: true, attack: false, httpStatus: 422 },
  /** A committed device ran another revision by the end of the soak time (it rolled back, or crashed back). */
  UNHEALTHY_AFTER_COMMIT: { class: 'unhealthy', permanent: false, attack: false, httpStatus: 422 },
  /** A trial revision was interrupted too often (crashes, power loss); the device rolled back by itself. */
  BOOT_ATTEMPTS_EXCEEDED: { class: 'unhealthy', permanent: false, attack: false, httpStatus: 422 },
  /** The bootloader never booted the trial slot to the point of a commit and fell back to the previous slot by itself. */
  BOOT_FAILED: { class: 'unhealthy', permanent: true, attack: false, httpStatus: 422 },
  /** The boot environment (U-Boot env, grubenv, boot file) could not be read or written, or holds values the agent does not understand. */
  BOOT_CONTROL_FAILED: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** The boot environment is damaged past reading and the agent cannot recreate it safely: the message names the fix. */
  BOOT_ENV_DAMAGED: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** The device is not connected or did not answer a command. */
  DEVICE_UNREACHABLE: { class: 'transient', permanent: false, attack: false, httpStatus: 422 },
  /** The device refused a command (invalid, or not applicable). */
  COMMAND_REJECTED: { class: 'other', permanent: true, attack: false, httpStatus: 409 },
  /** The device is still applying another update; asked again later. */
  DEVICE_BUSY: { class: 'transient', permanent: false, attack: false, httpStatus: 422 },
  /** The Director does not assign the commanded revision to this device (yet, or any more). */
  NOT_ASSIGNED: { class: 'other', permanent: true, attack: false, httpStatus: 422 },
  /** A phase of an update did not complete within its time limit. */
  PHASE_TIMEOUT: { class: 'transient', permanent: false, attack: false, httpStatus: 422 },
  /** The device said it committed, but no signed version report showing the revision reached the Director in time. */
  VERSION_REPORT_MISSING: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** The device did not answer the update command for as long as the rollout waits for offline devices. */
  DEVICE_OFFLINE: { class: 'offline', permanent: false, attack: false, httpStatus: 422 },
  /** An append to the event log lost an optimistic-concurrency race. */
  EVENT_CONFLICT: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** A rollout with this id was started before (ids are never used twice, even after it ended). */
  ROLLOUT_EXISTS: { class: 'other', permanent: false, attack: false, httpStatus: 409 },
  /** The rollout's status does not allow the command (a completed rollout cannot be paused; an aborted one stays aborted). */
  INVALID_TRANSITION: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** The rollout was rolled back already (while it ran, or after it ended): its devices left its revision. */
  ALREADY_ROLLED_BACK: { class: 'other', permanent: false, attack: false, httpStatus: 409 },
  // What a device answers on the wire, beside the codes above.
  /** The device's update manager is held by another command (an update, a rollback); the server makes it DEVICE_BUSY. */
  BUSY: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** The device left the rollout's revision because a rollback command asked it to. */
  ROLLED_BACK_BY_COMMAND: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  // Trust (TUF / Uptane): each code names the attack a failed check indicates.
  /** Metadata is malformed, of the wrong `_type`, or of an unsupported spec version. */
  BAD_METADATA: { class: 'verification', permanent: true, attack: true, httpStatus: 422 },
  /** More bytes than the role's cap (metadata) or the expected length (target). */
  ENDLESS_DATA: { class: 'verification', permanent: true, attack: true, httpStatus: 422 },
  /** A signature does not verify (single-signature objects such as device reports). */
  BAD_SIGNATURE: { class: 'verification', permanent: true, attack: true, httpStatus: 422 },
  /** Fewer distinct trusted keys signed than the role's threshold requires. */
  THRESHOLD_NOT_MET: { class: 'verification', permanent: true, attack: true, httpStatus: 422 },
  /** A version lower than the one already trusted (or a root that is not N+1). */
  ROLLBACK_ATTACK: { class: 'verification', permanent: true, attack: true, httpStatus: 422 },
  /** Metadata past its expiry at the reference time. */
  FREEZE_ATTACK: { class: 'verification', permanent: true, attack: true, httpStatus: 422 },
  /** Metadata whose version, length or hashes disagree with what its parent names. */
  MIX_AND_MATCH: { class: 'verification', permanent: true, attack: true, httpStatus: 422 },
  /** Bytes arrive slower than the floor for a whole window: a slow-retrieval attack or a dying link. */
  SLOW_RETRIEVAL: { class: 'transient', permanent: false, attack: true, httpStatus: 422 },
  /** The target is not in the repository, or not through a valid delegation. */
  TARGET_NOT_FOUND: { class: 'verification', permanent: true, attack: true, httpStatus: 422 },
  /** A target path that could leave its directory (`..`, absolute) or is not a plain path. */
  INVALID_TARGET_PATH: { class: 'verification', permanent: true, attack: true, httpStatus: 400 },
  /** A role name that is not well-formed Unicode, or that a repository cannot write as a plain file name. */
  INVALID_ROLE_NAME: { class: 'verification', permanent: true, attack: true, httpStatus: 422 },
  /** The Director names a hardware id that is not this ECU's, or the Image repository does not allow it. */
  HARDWARE_MISMATCH: { class: 'verification', permanent: true, attack: true, httpStatus: 422 },
  /** Director and Image repository disagree on a target (length, hashes, release counter). */
  DIRECTOR_IMAGE_MISMATCH: { class: 'verification', permanent: true, attack: true, httpStatus: 422 },
  /** Director targets for an ECU that is not this device's, twice for one ECU, or for another device. */
  ECU_MISMATCH: { class: 'verification', permanent: true, attack: true, httpStatus: 422 },
  /** An OCI layer tar is malformed or has an entry that would land outside the app's root filesystem (`..`, absolute, through a symlink). */
  LAYER_UNSAFE: { class: 'other', permanent: true, attack: false, httpStatus: 422 },
  /** An app could not be prepared or started (its image, runc). */
  APP_START_FAILED: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** An app of the new revision did not reach its health goal; the device rolled back. */
  APP_UNHEALTHY: { class: 'other', permanent: true, attack: false, httpStatus: 422 },
  /** The OSTree commit pulled is not the one the verified revision names (its checksum differs). */
  OSTREE_COMMIT_MISMATCH: { class: 'verification', permanent: true, attack: true, httpStatus: 422 },
  /** The Director repository delegates, which Uptane forbids. */
  DELEGATION_NOT_ALLOWED: { class: 'verification', permanent: true, attack: true, httpStatus: 422 },
  /** A release counter lower than the installed one. */
  RELEASE_COUNTER_ROLLBACK: { class: 'verification', permanent: true, attack: true, httpStatus: 422 },
  /** More root rotations or delegated roles than the limits allow in one update. */
  LIMIT_EXCEEDED: { class: 'verification', permanent: true, attack: true, httpStatus: 422 },
  /** A verification step was called out of order (root, timestamp, snapshot, targets). */
  OUT_OF_ORDER: { class: 'other', permanent: true, attack: false, httpStatus: 422 },
  /** A device report repeats or lowers a counter already seen (replay). */
  REPLAYED_REPORT: { class: 'other', permanent: true, attack: false, httpStatus: 422 },
  // Keys (keys/): the key store and ceremonies.
  /** The passphrase does not decrypt the private key. */
  WRONG_PASSPHRASE: { class: 'other', permanent: true, attack: false, httpStatus: 422 },
  /** No key with this key id (or id prefix) in the key store, or in the root it should be in. */
  UNKNOWN_KEY: { class: 'other', permanent: true, attack: false, httpStatus: 404 },
  /** A key id prefix that more than one key starts with. */
  AMBIGUOUS_KEY: { class: 'other', permanent: true, attack: false, httpStatus: 422 },
  /** The key was revoked and may not sign. */
  KEY_REVOKED: { class: 'other', permanent: true, attack: false, httpStatus: 422 },
  /** An online service asked for an offline key. */
  OFFLINE_KEY: { class: 'other', permanent: true, attack: false, httpStatus: 422 },
  /** A root proposal does not carry the signatures it needs yet. */
  CEREMONY_INCOMPLETE: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** The keys at hand cannot sign a role as the root being published requires: publishing would strand devices. */
  SIGNERS_MISSING: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** A caller presented no valid token (missing, malformed, wrong signature or audience). */
  UNAUTHORIZED: { class: 'other', permanent: false, attack: false, httpStatus: 401 },
  /** A caller's token has expired. */
  TOKEN_EXPIRED: { class: 'other', permanent: false, attack: false, httpStatus: 401 },
  /** A caller's role may not do this. */
  FORBIDDEN: { class: 'other', permanent: false, attack: false, httpStatus: 403 },
  /** A run of the metadata freshness job failed: metadata may expire unless someone acts. */
  FRESHNESS_MISSED: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** A required program (temporal, nats-server) is not installed. */
  BINARY_NOT_FOUND: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** A port the local stack needs is already taken. */
  PORT_IN_USE: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** Another agent runs on this data directory (its control socket answers). */
  DATA_DIR_IN_USE: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** The local stack is not running or not reachable. */
  STACK_NOT_RUNNING: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** The deployment's Temporal (`--temporal`, `$UPROLL_TEMPORAL`) did not answer. */
  TEMPORAL_UNREACHABLE: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** The deployment's Temporal answers, but lacks what Uproll needs: its namespace, or a search attribute on it (the message names the `temporal operator` command that creates it). */
  TEMPORAL_NOT_READY: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** No worker polls the deployment's task queue: what only a worker can answer (a rollout's progress) waits for one. */
  WORKER_NOT_RUNNING: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** The deployment's NATS (`--nats`, `$UPROLL_NATS`) did not answer, or refused the services' credentials. */
  NATS_UNREACHABLE: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** JetStream cannot keep the copies of a stream or bucket asked for (`--nats-replicas`): too few nodes run JetStream. */
  NATS_REPLICAS_UNAVAILABLE: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** A server process did not become ready in time. */
  STARTUP_FAILED: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** No NATS identity (operator, account, services user) in the state directory: nothing could sign a device's credentials. */
  NATS_NOT_INITIALIZED: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** A NATS account update (a revocation) reached no server, or the server refused it; it is recorded and can be sent again. */
  NATS_UPDATE_FAILED: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** JetStream acknowledged a device's new report as a duplicate and did not store it (retried). */
  REPORT_NOT_STORED: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  // What operators name (CLI, API): things that do not exist, or exist already.
  /** No rollout with this id on Temporal. */
  ROLLOUT_NOT_FOUND: { class: 'other', permanent: false, attack: false, httpStatus: 404 },
  /** No workflow with this id on Temporal (other than a rollout). */
  WORKFLOW_NOT_FOUND: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** A workflow with this id runs or ran already (other than a rollout). */
  WORKFLOW_EXISTS: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** The Image repository has released no state revision of this name. */
  REVISION_NOT_FOUND: { class: 'other', permanent: false, attack: false, httpStatus: 404 },
  /** A state revision of this name is published already, with other content: a revision name is used once. */
  REVISION_EXISTS: { class: 'other', permanent: false, attack: false, httpStatus: 409 },
  /** A target of this name is published already, with other content: a target name is used once. */
  TARGET_EXISTS: { class: 'other', permanent: false, attack: false, httpStatus: 409 },
  /** A device of this id is provisioned already. */
  DEVICE_EXISTS: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** No device of this id is provisioned. */
  DEVICE_NOT_FOUND: { class: 'other', permanent: false, attack: false, httpStatus: 404 },
  /** The device's credentials were revoked (`devices revoke`); it is in no rollout until provisioned again. */
  DEVICE_REVOKED: { class: 'other', permanent: true, attack: false, httpStatus: 422 },
  /** A file or directory named (or needed) does not exist. */
  FILE_NOT_FOUND: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
  /** No such route in this API (answered only to an authenticated caller). */
  ROUTE_NOT_FOUND: { class: 'other', permanent: false, attack: false, httpStatus: 404 },
  /** The route exists, not with this method. */
  METHOD_NOT_ALLOWED: { class: 'other', permanent: false, attack: false, httpStatus: 405 },
  /** A failure without a code of its own: a bug, or a library error not mapped to a code yet. */
  INTERNAL_ERROR: { class: 'other', permanent: false, attack: false, httpStatus: 422 },
} as const satisfies Record<string, CodeInfo>;

export type UprollErrorCode = keyof typeof ERROR_CODES;

/** A failure as it travels: a code (one of ours, or one an agent or an older release sent) and a message. */
export interface ErrorInfo {
  code: string;
  message: string;
}

/** True when `code` is one of this release's codes (a device or an old history may send others). */
export function isUprollErrorCode(code: string): code is UprollErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/** What is decided from `code`; a code this release does not know is `other`, worth retrying, 422. */
export function codeInfo(code: string): CodeInfo {
  return isUprollErrorCode(code) ? ERROR_CODES[code] : UNKNOWN_CODE;
}

const UNKNOWN_CODE: CodeInfo = { class: 'other', permanent: false, attack: false, httpStatus: 422 };

/** The codes of failed trust checks (TUF / Uptane): each names the attack it indicates. */
export const TRUST_ATTACK_CODES: ReadonlySet<UprollErrorCode> = new Set(
  (Object.keys(ERROR_CODES) as UprollErrorCode[]).filter((code) => ERROR_CODES[code].attack),
);

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
  return ERROR_CODES[code].permanent;
}

/** Narrows an unknown thrown value to an {@link UprollError}, optionally of one code. */
export function isUprollError(value: unknown, code?: UprollErrorCode): value is UprollError {
  return value instanceof UprollError && (code === undefined || value.code === code);
}
