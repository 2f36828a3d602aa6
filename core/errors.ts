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
  /** The device's installer cannot install this kind of revision (an OSTree commit on A/B slots, files on an OSTree system). */
  | 'REVISION_UNSUPPORTED'
  /** The new revision did not pass its health check; the device rolled back. */
  | 'HEALTH_CHECK_FAILED'
  /** A committed device ran another revision by the end of the soak time (it rolled back, or crashed back). */
  | 'UNHEALTHY_AFTER_COMMIT'
  /** A trial revision was interrupted too often (crashes, power loss); the device rolled back by itself. */
  | 'BOOT_ATTEMPTS_EXCEEDED'
  /** The bootloader never booted the trial slot to the point of a commit and fell back to the previous slot by itself. */
  | 'BOOT_FAILED'
  /** The boot environment (U-Boot env, grubenv, boot file) could not be read or written, or holds values the agent does not understand. */
  | 'BOOT_CONTROL_FAILED'
  /** The boot environment is damaged past reading and the agent cannot recreate it safely: the message names the fix. */
  | 'BOOT_ENV_DAMAGED'
  /** The device is not connected or did not answer a command. */
  | 'DEVICE_UNREACHABLE'
  /** The device refused a command (invalid, or not applicable). */
  | 'COMMAND_REJECTED'
  /** The device is still applying another update; asked again later. */
  | 'DEVICE_BUSY'
  /** The Director does not assign the commanded revision to this device (yet, or any more). */
  | 'NOT_ASSIGNED'
  /** A phase of an update did not complete within its time limit. */
  | 'PHASE_TIMEOUT'
  /** The device said it committed, but no signed version report showing the revision reached the Director in time. */
  | 'VERSION_REPORT_MISSING'
  /** The device did not answer the update command for as long as the rollout waits for offline devices. */
  | 'DEVICE_OFFLINE'
  /** An append to the event log lost an optimistic-concurrency race. */
  | 'EVENT_CONFLICT'
  /** A rollout with this id was started before (ids are never used twice, even after it ended). */
  | 'ROLLOUT_EXISTS'
  /** The rollout's status does not allow the command (a completed rollout cannot be paused; an aborted one stays aborted). */
  | 'INVALID_TRANSITION'
  /** The rollout was rolled back already (while it ran, or after it ended): its devices left its revision. */
  | 'ALREADY_ROLLED_BACK'
  // Trust (TUF / Uptane): each code names the attack a failed check indicates.
  /** Metadata is malformed, of the wrong `_type`, or of an unsupported spec version. */
  | 'BAD_METADATA'
  /** More bytes than the role's cap (metadata) or the expected length (target). */
  | 'ENDLESS_DATA'
  /** A signature does not verify (single-signature objects such as device reports). */
  | 'BAD_SIGNATURE'
  /** Fewer distinct trusted keys signed than the role's threshold requires. */
  | 'THRESHOLD_NOT_MET'
  /** A version lower than the one already trusted (or a root that is not N+1). */
  | 'ROLLBACK_ATTACK'
  /** Metadata past its expiry at the reference time. */
  | 'FREEZE_ATTACK'
  /** Metadata whose version, length or hashes disagree with what its parent names. */
  | 'MIX_AND_MATCH'
  /** Bytes arrive slower than the floor for a whole window: a slow-retrieval attack or a dying link. */
  | 'SLOW_RETRIEVAL'
  /** The target is not in the repository, or not through a valid delegation. */
  | 'TARGET_NOT_FOUND'
  /** A target path that could leave its directory (`..`, absolute) or is not a plain path. */
  | 'INVALID_TARGET_PATH'
  /** A role name that is not well-formed Unicode, or that a repository cannot write as a plain file name. */
  | 'INVALID_ROLE_NAME'
  /** The Director names a hardware id that is not this ECU's, or the Image repository does not allow it. */
  | 'HARDWARE_MISMATCH'
  /** Director and Image repository disagree on a target (length, hashes, release counter). */
  | 'DIRECTOR_IMAGE_MISMATCH'
  /** Director targets for an ECU that is not this device's, twice for one ECU, or for another device. */
  | 'ECU_MISMATCH'
  /** An OCI layer tar is malformed or has an entry that would land outside the app's root filesystem (`..`, absolute, through a symlink). */
  | 'LAYER_UNSAFE'
  /** An app could not be prepared or started (its image, runc). */
  | 'APP_START_FAILED'
  /** An app of the new revision did not reach its health goal; the device rolled back. */
  | 'APP_UNHEALTHY'
  /** The OSTree commit pulled is not the one the verified revision names (its checksum differs). */
  | 'OSTREE_COMMIT_MISMATCH'
  /** The Director repository delegates, which Uptane forbids. */
  | 'DELEGATION_NOT_ALLOWED'
  /** A release counter lower than the installed one. */
  | 'RELEASE_COUNTER_ROLLBACK'
  /** More root rotations or delegated roles than the limits allow in one update. */
  | 'LIMIT_EXCEEDED'
  /** A verification step was called out of order (root, timestamp, snapshot, targets). */
  | 'OUT_OF_ORDER'
  /** A device report repeats or lowers a counter already seen (replay). */
  | 'REPLAYED_REPORT'
  // Keys (keys/): the key store and ceremonies.
  /** The passphrase does not decrypt the private key. */
  | 'WRONG_PASSPHRASE'
  /** No key with this key id (or id prefix) in the key store, or in the root it should be in. */
  | 'UNKNOWN_KEY'
  /** A key id prefix that more than one key starts with. */
  | 'AMBIGUOUS_KEY'
  /** The key was revoked and may not sign. */
  | 'KEY_REVOKED'
  /** An online service asked for an offline key. */
  | 'OFFLINE_KEY'
  /** A root proposal does not carry the signatures it needs yet. */
  | 'CEREMONY_INCOMPLETE'
  /** The keys at hand cannot sign a role as the root being published requires: publishing would strand devices. */
  | 'SIGNERS_MISSING'
  /** A caller presented no valid token (missing, malformed, wrong signature or audience). */
  | 'UNAUTHORIZED'
  /** A caller's token has expired. */
  | 'TOKEN_EXPIRED'
  /** A caller's role may not do this. */
  | 'FORBIDDEN'
  /** A run of the metadata freshness job failed: metadata may expire unless someone acts. */
  | 'FRESHNESS_MISSED'
  /** A required program (temporal, nats-server) is not installed. */
  | 'BINARY_NOT_FOUND'
  /** A port the local stack needs is already taken. */
  | 'PORT_IN_USE'
  /** Another agent runs on this data directory (its control socket answers). */
  | 'DATA_DIR_IN_USE'
  /** The local stack is not running or not reachable. */
  | 'STACK_NOT_RUNNING'
  /** The deployment's Temporal (`--temporal`, `$UPROLL_TEMPORAL`) did not answer. */
  | 'TEMPORAL_UNREACHABLE'
  /** The deployment's Temporal answers, but lacks what Uproll needs: its namespace, or a search attribute on it (the message names the `temporal operator` command that creates it). */
  | 'TEMPORAL_NOT_READY'
  /** No worker polls the deployment's task queue: what only a worker can answer (a rollout's progress) waits for one. */
  | 'WORKER_NOT_RUNNING'
  /** The deployment's NATS (`--nats`, `$UPROLL_NATS`) did not answer, or refused the services' credentials. */
  | 'NATS_UNREACHABLE'
  /** JetStream cannot keep the copies of a stream or bucket asked for (`--nats-replicas`): too few nodes run JetStream. */
  | 'NATS_REPLICAS_UNAVAILABLE'
  /** A server process did not become ready in time. */
  | 'STARTUP_FAILED'
  /** No NATS identity (operator, account, services user) in the state directory: nothing could sign a device's credentials. */
  | 'NATS_NOT_INITIALIZED'
  /** A NATS account update (a revocation) reached no server, or the server refused it; it is recorded and can be sent again. */
  | 'NATS_UPDATE_FAILED'
  /** JetStream acknowledged a device's new report as a duplicate and did not store it (retried). */
  | 'REPORT_NOT_STORED'
  // What operators name (CLI, API): things that do not exist, or exist already.
  /** No rollout with this id on Temporal. */
  | 'ROLLOUT_NOT_FOUND'
  /** No workflow with this id on Temporal (other than a rollout). */
  | 'WORKFLOW_NOT_FOUND'
  /** A workflow with this id runs or ran already (other than a rollout). */
  | 'WORKFLOW_EXISTS'
  /** The Image repository has released no state revision of this name. */
  | 'REVISION_NOT_FOUND'
  /** A state revision of this name is published already, with other content: a revision name is used once. */
  | 'REVISION_EXISTS'
  /** A target of this name is published already, with other content: a target name is used once. */
  | 'TARGET_EXISTS'
  /** A device of this id is provisioned already. */
  | 'DEVICE_EXISTS'
  /** No device of this id is provisioned. */
  | 'DEVICE_NOT_FOUND'
  /** The device's credentials were revoked (`devices revoke`); it is in no rollout until provisioned again. */
  | 'DEVICE_REVOKED'
  /** A file or directory named (or needed) does not exist. */
  | 'FILE_NOT_FOUND'
  /** No such route in this API (answered only to an authenticated caller). */
  | 'ROUTE_NOT_FOUND'
  /** The route exists, not with this method. */
  | 'METHOD_NOT_ALLOWED'
  /** A failure without a code of its own: a bug, or a library error not mapped to a code yet. */
  | 'INTERNAL_ERROR';

/** The codes of failed trust checks (TUF / Uptane): each names the attack it indicates. */
export const TRUST_ATTACK_CODES: ReadonlySet<UprollErrorCode> = new Set([
  'BAD_METADATA',
  'ENDLESS_DATA',
  'BAD_SIGNATURE',
  'THRESHOLD_NOT_MET',
  'ROLLBACK_ATTACK',
  'FREEZE_ATTACK',
  'MIX_AND_MATCH',
  'SLOW_RETRIEVAL',
  'TARGET_NOT_FOUND',
  'INVALID_TARGET_PATH',
  'INVALID_ROLE_NAME',
  'HARDWARE_MISMATCH',
  'DIRECTOR_IMAGE_MISMATCH',
  'ECU_MISMATCH',
  'DELEGATION_NOT_ALLOWED',
  'RELEASE_COUNTER_ROLLBACK',
  'LIMIT_EXCEEDED',
  'HASH_MISMATCH',
  'LENGTH_MISMATCH',
  'OSTREE_COMMIT_MISMATCH',
]);

/** Codes whose failure will not change by trying again: bad input, refusals, and every failed trust check but a slow link. */
const PERMANENT: ReadonlySet<UprollErrorCode> = new Set<UprollErrorCode>([
  'INVALID_INPUT',
  'INPUT_TOO_LARGE',
  'REVISION_UNSUPPORTED',
  'COMMAND_REJECTED',
  'NOT_ASSIGNED',
  'HEALTH_CHECK_FAILED',
  'APP_UNHEALTHY',
  'LAYER_UNSAFE',
  'BOOT_FAILED',
  'OUT_OF_ORDER',
  'REPLAYED_REPORT',
  'WRONG_PASSPHRASE',
  'UNKNOWN_KEY',
  'AMBIGUOUS_KEY',
  'KEY_REVOKED',
  'OFFLINE_KEY',
  'DEVICE_REVOKED',
  ...[...TRUST_ATTACK_CODES].filter((code) => code !== 'SLOW_RETRIEVAL'),
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
