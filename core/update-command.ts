import { z } from 'zod';
import { rolloutIdSchema } from './identifiers.ts';

/** Largest artifact a command may name (1 TiB): a sanity bound, not a policy. */
export const MAX_ARTIFACT_BYTES = 2 ** 40;
/** Byte cap on an update command or its reply as it crosses NATS. */
export const MAX_COMMAND_BYTES = 16 * 1024;

const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');

/** One artifact of a revision: where to fetch it and the exact bytes it must be. */
export const artifactSchema = z.object({
  name: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be a plain file name')
    .refine((n) => !/^\.+$/.test(n), 'must not be . or ..'),
  url: z.url({ protocol: /^https?$/ }),
  sha256: sha256Schema,
  length: z.int().min(0).max(MAX_ARTIFACT_BYTES),
});
export type Artifact = z.infer<typeof artifactSchema>;

/** `uproll.cmd.<device>.update`: install this revision as part of this rollout. */
export const updateCommandSchema = z.object({
  rolloutId: rolloutIdSchema,
  revision: z.string().min(1).max(128),
  artifact: artifactSchema,
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
