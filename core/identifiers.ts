import { UprollError } from './errors.ts';

// No zod here: workflow code imports this module, and every workflow start
// evaluates the modules it imports again.

/**
 * Device and rollout ids become NATS subject tokens and Temporal workflow ids,
 * so they are restricted to a safe alphabet: no dots, wildcards or spaces that
 * could widen a subject.
 */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Who did something, as the audit trail names them (`--by`, an API token's subject): a name or an address. */
export const ACTOR_PATTERN = /^[\p{L}\p{N} ._@+-]{1,128}$/u;

/** Throws INVALID_INPUT unless `value` is a safe token; returns it otherwise. */
export function assertToken(value: string, what: string): string {
  if (!TOKEN_PATTERN.test(value)) {
    throw new UprollError(
      'INVALID_INPUT',
      `${what} ${JSON.stringify(value)} must be 1-64 of A-Z a-z 0-9 _ -`,
    );
  }
  return value;
}

/** NATS subjects of DESIGN.md's messaging sketch. */
export const subjects = {
  /** Server -> device request/reply, e.g. `uproll.cmd.d1.update`. */
  command: (deviceId: string, verb: string) =>
    `uproll.cmd.${assertToken(deviceId, 'device id')}.${assertToken(verb, 'command verb')}`,
  /** Every command subject of one device. */
  allCommands: (deviceId: string) => `uproll.cmd.${assertToken(deviceId, 'device id')}.>`,
  /** Device -> server telemetry, captured by JetStream. */
  telemetry: (deviceId: string) => `uproll.dev.${assertToken(deviceId, 'device id')}.telemetry`,
  /** Device -> server liveness and progress, plain NATS (not stored): the newest one is all that matters. */
  heartbeat: (deviceId: string) => `uproll.dev.${assertToken(deviceId, 'device id')}.heartbeat`,
  /** Everything a device may publish. */
  deviceOutbox: (deviceId: string) => `uproll.dev.${assertToken(deviceId, 'device id')}.>`,
  /** Reply inboxes of one device; a root token of its own so no service inbox can match. */
  deviceInboxPrefix: (deviceId: string) => `_UPROLL_INBOX.${assertToken(deviceId, 'device id')}`,
  /** The event log subject of one aggregate. */
  events: (aggregate: string, id: string) =>
    `uproll.evt.${assertToken(aggregate, 'aggregate')}.${assertToken(id, 'aggregate id')}`,
} as const;

/** The device a `uproll.dev.<device>.…` or `uproll.cmd.<device>.…` subject names ('' when none). */
export function deviceOfSubject(subject: string): string {
  return subject.split('.')[2] ?? '';
}

/** Temporal workflow id of one device's update within one rollout. */
export function deviceUpdateWorkflowId(deviceId: string, rolloutId: string): string {
  return `device-update/${assertToken(deviceId, 'device id')}/${assertToken(rolloutId, 'rollout id')}`;
}

/** Names of the device update workflow's messages, shared by the workflow and its callers. */
export const DEVICE_PROGRESS_SIGNAL = 'deviceProgress';
/** The Director accepted a device's signed version report showing the revision it was assigned. */
export const DEVICE_VERSION_REPORT_SIGNAL = 'deviceVersionReport';
export const DEVICE_UPDATE_STATUS_QUERY = 'deviceUpdateStatus';

/** Device -> Director: signed version reports (device manifests), captured by JetStream. */
export function reportSubject(deviceId: string): string {
  return `uproll.dev.${assertToken(deviceId, 'device id')}.report`;
}
