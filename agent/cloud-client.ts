import { jetstream } from '@nats-io/jetstream';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  MAX_COMMAND_BYTES,
  parseJson,
  subjects,
  updateCommandSchema,
  UprollError,
  type CommandReply,
  type Telemetry,
  type UpdateCommand,
} from '../core/index.ts';
import { connectToNats } from '../services/nats/index.ts';

export interface CloudClientOptions {
  deviceId: string;
  servers: string | string[];
  nkeySeed: string;
  log?: (line: string) => void;
}

const PUBLISH_ATTEMPTS = 30;

/**
 * The device's NATS side: answers `uproll.cmd.<device>.update` and publishes
 * telemetry to JetStream. It only ever uses its own subjects and inbox,
 * which is all its NATS user is allowed.
 */
export class CloudClient {
  readonly #options: CloudClientOptions;
  readonly #nc: NatsConnection;
  #subscription: Subscription | undefined;
  #serving: Promise<void> | undefined;

  private constructor(options: CloudClientOptions, nc: NatsConnection) {
    this.#options = options;
    this.#nc = nc;
  }

  static async connect(options: CloudClientOptions): Promise<CloudClient> {
    const nc = await connectToNats({
      servers: options.servers,
      nkeySeed: options.nkeySeed,
      name: `uproll-agent ${options.deviceId}`,
      inboxPrefix: subjects.deviceInboxPrefix(options.deviceId),
      waitOnFirstConnect: true,
    });
    return new CloudClient(options, nc);
  }

  /**
   * Answers update commands with `onUpdate`, which hands a validated command
   * to the update manager. Resolves once the server knows the subscription.
   */
  async serveUpdates(
    onUpdate: (command: UpdateCommand) => Promise<CommandReply> | CommandReply,
  ): Promise<void> {
    const subscription = this.#nc.subscribe(subjects.command(this.#options.deviceId, 'update'));
    this.#subscription = subscription;
    this.#serving = (async () => {
      for await (const msg of subscription) {
        msg.respond(JSON.stringify(await this.#answer(msg, onUpdate)));
      }
    })();
    await this.#nc.flush();
  }

  /**
   * Publishes telemetry to JetStream, retrying while NATS is unreachable. The
   * message id makes a repeated report of the same step a no-op.
   */
  async publishTelemetry(telemetry: Telemetry): Promise<void> {
    const js = jetstream(this.#nc);
    const msgID = `${telemetry.deviceId}/${telemetry.rolloutId}/${telemetry.phase}`;
    for (let attempt = 1; ; attempt++) {
      try {
        await js.publish(subjects.telemetry(telemetry.deviceId), JSON.stringify(telemetry), { msgID });
        return;
      } catch (err) {
        if (attempt >= PUBLISH_ATTEMPTS || this.#nc.isClosed()) throw err;
        await sleep(Math.min(200 * attempt, 2000));
      }
    }
  }

  async close(): Promise<void> {
    this.#subscription?.unsubscribe();
    await this.#serving;
    await this.#nc.drain().catch(() => {});
  }

  async #answer(
    msg: Msg,
    onUpdate: (command: UpdateCommand) => Promise<CommandReply> | CommandReply,
  ): Promise<CommandReply> {
    try {
      const command = parseJson(updateCommandSchema, msg.data, {
        maxBytes: MAX_COMMAND_BYTES,
        what: 'update command',
      });
      return await onUpdate(command);
    } catch (err) {
      const code = err instanceof UprollError ? err.code : 'INVALID_INPUT';
      this.#options.log?.(`refused a command on ${msg.subject}: ${(err as Error).message}`);
      return { accepted: false, error: { code, message: (err as Error).message } };
    }
  }
}
