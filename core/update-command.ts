import { z } from 'zod';
import { isPermanent, isUprollErrorCode, UprollError, type ErrorInfo } from './errors.ts';
import { rolloutIdSchema } from './identifier-schemas.ts';

/** Byte cap on an update command or its reply as it crosses NATS. */
export const MAX_COMMAND_BYTES = 16 * 1024;

/**
 * `uproll.cmd.<device>.update`: install this state revision as part of this
 * rollout. The command only names it: what the device installs is what the
 * Director assigns it and the Image repository vouches for (full Uptane
 * verification), so a forged or stale command can never install anything.
 */
export const updateCommandSchema = z.object({
  rolloutId: rolloutIdSchema,
  revision: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be a plain revision name'),
});
export type UpdateCommand = z.infer<typeof updateCommandSchema>;

/** The device's immediate answer to a command; progress follows as telemetry. */
export const commandReplySchema = z.discriminatedUnion('accepted', [
  z.object({ accepted: z.literal(true), duplicate: z.boolean().default(false) }),
  z.object({
    accepted: z.literal(false),
    error: z.object({ code: z.string().max(64), message: z.string().max(1024) }),
  }),
]);
export type CommandReply = z.infer<typeof commandReplySchema>;

/** `uproll.cmd.<device>.rollback`: go back to the last committed revision, if this rollout put the device where it is. */
export const rollbackCommandSchema = z.object({ rolloutId: rolloutIdSchema });
export type RollbackCommand = z.infer<typeof rollbackCommandSchema>;

/** The device's answer: whether it went back, and the revision it runs now. */
export const rollbackReplySchema = z.discriminatedUnion('accepted', [
  z.object({ accepted: z.literal(true), rolledBack: z.boolean(), revision: z.string().max(128).nullable() }),
  z.object({
    accepted: z.literal(false),
    error: z.object({ code: z.string().max(64), message: z.string().max(1024) }),
  }),
]);
export type RollbackReply = z.infer<typeof rollbackReplySchema>;

/**
 * A device's refusal as an error: a busy device is DEVICE_BUSY (asked again);
 * a permanent code this release knows stays the device's own, so a trust check
 * that failed on the device counts as one; any other is COMMAND_REJECTED
 * naming it (final, as a refusal is: a device's transient code is not asked again).
 */
export function refusalOf(deviceId: string, what: string, error: ErrorInfo): UprollError {
  if (error.code === 'BUSY')
    return new UprollError('DEVICE_BUSY', `device ${deviceId} is busy: ${error.message}`);
  if (isUprollErrorCode(error.code) && isPermanent(error.code))
    return new UprollError(error.code, `device ${deviceId} refused ${what}: ${error.message}`);
  return new UprollError(
    'COMMAND_REJECTED',
    `device ${deviceId} refused ${what}: ${error.code}: ${error.message}`,
  );
}
