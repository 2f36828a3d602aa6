import { NoRespondersError, RequestError, TimeoutError, type NatsConnection } from '@nats-io/transport-node';
import {
  commandReplySchema,
  MAX_COMMAND_BYTES,
  parseJson,
  refusalOf,
  rollbackReplySchema,
  subjects,
  UprollError,
  type CommandReply,
  type RollbackCommand,
  type RollbackReply,
  type UpdateCommand,
} from '../../core/index.ts';

/** Sends commands to devices over NATS request/reply (`uproll.cmd.<device>.<verb>`). */
export class DeviceCommands {
  readonly #nc: NatsConnection;
  readonly #timeoutMs: number;

  constructor(nc: NatsConnection, options: { timeoutMs?: number } = {}) {
    this.#nc = nc;
    this.#timeoutMs = options.timeoutMs ?? 5000;
  }

  /**
   * Asks the device to apply an update. Resolves when the device accepted it;
   * fails with DEVICE_UNREACHABLE or DEVICE_BUSY (retryable), or with the
   * device's own refusal (see {@link refusalOf}).
   */
  async sendUpdateCommand(deviceId: string, command: UpdateCommand): Promise<CommandReply> {
    const subject = subjects.command(deviceId, 'update');
    let replyBytes: Uint8Array;
    try {
      const reply = await this.#nc.request(subject, JSON.stringify(command), { timeout: this.#timeoutMs });
      replyBytes = reply.data;
    } catch (err) {
      if (isUnanswered(err)) {
        throw new UprollError('DEVICE_UNREACHABLE', `device ${deviceId} did not answer on ${subject}`, {
          cause: err,
        });
      }
      throw err;
    }
    const reply = parseJson(commandReplySchema, replyBytes, {
      maxBytes: MAX_COMMAND_BYTES,
      what: `reply of device ${deviceId}`,
    });
    if (!reply.accepted) throw refusalOf(deviceId, 'the update', reply.error);
    return reply;
  }

  rollback(deviceId: string, command: RollbackCommand): Promise<RollbackReply> {
    return sendRollbackCommand(this.#nc, deviceId, command, this.#timeoutMs);
  }
}

/** Asks the device to go back to its last committed revision if this rollout installed what it runs. */
export async function sendRollbackCommand(
  nc: NatsConnection,
  deviceId: string,
  command: RollbackCommand,
  timeoutMs = 10_000,
): Promise<RollbackReply> {
  const subject = subjects.command(deviceId, 'rollback');
  try {
    const reply = await nc.request(subject, JSON.stringify(command), { timeout: timeoutMs });
    return parseJson(rollbackReplySchema, reply.data, {
      maxBytes: MAX_COMMAND_BYTES,
      what: `reply of ${deviceId}`,
    });
  } catch (err) {
    if (isUnanswered(err))
      throw new UprollError('DEVICE_UNREACHABLE', `device ${deviceId} did not answer on ${subject}`, {
        cause: err,
      });
    throw err;
  }
}

function isUnanswered(err: unknown): boolean {
  if (err instanceof NoRespondersError || err instanceof TimeoutError) return true;
  return err instanceof RequestError && (err.isNoResponders() || err.cause instanceof TimeoutError);
}
