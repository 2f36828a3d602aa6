import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  MAX_COMMAND_BYTES,
  parseJson,
  reportSubject,
  rollbackCommandSchema,
  subjects,
  updateCommandSchema,
  UprollError,
  type CommandReply,
  type Heartbeat,
  type RollbackCommand,
  type RollbackReply,
  type UpdateCommand,
} from '../core/index.ts';
import { connectToNats, type NatsConnectOptions } from '../adapters/nats/index.ts';
import { deliverUntilStored } from './report-delivery.ts';
import type { JournalEntry } from './report-journal.ts';

export interface CloudClientOptions {
  deviceId: string;
  servers: string | string[];
  nkeySeed: string;
  tls?: NatsConnectOptions['tls'];
  log?: (line: string) => void;
}

const CLOSE_GRACE_MS = 5000;

/**
 * The device's NATS side: answers `uproll.cmd.<device>.update` and delivers
 * the update manager's reports to JetStream (telemetry and signed
 * manifests). It only ever uses its own subjects and inbox, which is all
 * its NATS user is allowed. NATS reconnects forever; a report is retried
 * with backoff until the server stores it (a repeat after a crash is
 * harmless: the consumers drop it).
 */
export class CloudClient {
  readonly #options: CloudClientOptions;
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  #subscription: Subscription | undefined;
  #rollbacks: Subscription | undefined;
  #serving: Promise<void> | undefined;
  #closing = new AbortController();

  private constructor(options: CloudClientOptions, nc: NatsConnection) {
    this.#options = options;
    this.#nc = nc;
    this.#js = jetstream(nc);
  }

  static async connect(options: CloudClientOptions): Promise<CloudClient> {
    const nc = await connectToNats({
      servers: options.servers,
      nkeySeed: options.nkeySeed,
      name: `uproll-agent ${options.deviceId}`,
      inboxPrefix: subjects.deviceInboxPrefix(options.deviceId),
      waitOnFirstConnect: true,
      ...(options.tls ? { tls: options.tls } : {}),
    });
    const client = new CloudClient(options, nc);
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect' || status.type === 'reconnect') options.log?.(`NATS ${status.type}`);
      }
    })().catch(() => {});
    return client;
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

  /** Answers rollback commands with `onRollback` (a rollout aborted and returns its devices). */
  async serveRollbacks(onRollback: (command: RollbackCommand) => Promise<RollbackReply>): Promise<void> {
    const subscription = this.#nc.subscribe(subjects.command(this.#options.deviceId, 'rollback'));
    this.#rollbacks = subscription;
    void (async () => {
      for await (const msg of subscription) {
        let reply: RollbackReply;
        try {
          reply = await onRollback(
            parseJson(rollbackCommandSchema, msg.data, {
              maxBytes: MAX_COMMAND_BYTES,
              what: 'rollback command',
            }),
          );
        } catch (err) {
          const code = err instanceof UprollError ? err.code : 'INVALID_INPUT';
          reply = { accepted: false, error: { code, message: (err as Error).message } };
        }
        msg.respond(JSON.stringify(reply));
      }
    })();
    await this.#nc.flush();
  }

  /**
   * Stores one journal entry in JetStream, retrying until it is stored or the
   * client closes. It sends no Nats-Msg-Id: JetStream de-duplicates ids per
   * stream, and every device writes to the same stream, so an id a device
   * chooses could be taken by another device first. A repeat after a lost ack
   * is stored twice and dropped by the consumers, which key it by the
   * subject's device (NATS permissions enforce it).
   */
  async deliver(entry: JournalEntry): Promise<void> {
    const subject =
      entry.kind === 'manifest'
        ? reportSubject(this.#options.deviceId)
        : subjects.telemetry(this.#options.deviceId);
    await deliverUntilStored({
      publish: () => this.#js.publish(subject, JSON.stringify(entry.body), { timeout: 5000 }),
      seq: entry.seq,
      signal: this.#closing.signal,
      stopped: () => this.#closing.signal.aborted || this.#nc.isClosed(),
      ...(this.#options.log ? { log: this.#options.log } : {}),
    });
  }

  /** Says the device is alive (plain NATS: a missed heartbeat is replaced by the next one). */
  heartbeat(heartbeat: Heartbeat): void {
    if (!this.#nc.isClosed())
      this.#nc.publish(subjects.heartbeat(this.#options.deviceId), JSON.stringify(heartbeat));
  }

  async close(): Promise<void> {
    this.#closing.abort();
    this.#subscription?.unsubscribe();
    this.#rollbacks?.unsubscribe();
    await this.#serving;
    // A drain waits for the server; a stopping agent does not wait for ever.
    const drained = await Promise.race([
      this.#nc.drain().then(
        () => true,
        () => false,
      ),
      sleep(CLOSE_GRACE_MS).then(() => false),
    ]);
    if (!drained) await this.#nc.close().catch(() => {});
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
