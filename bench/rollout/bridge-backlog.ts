// How far the telemetry bridge lags behind the devices, from its durable consumer.
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { TELEMETRY_STREAM } from '../../services/nats/index.ts';
import { median } from '../stats.ts';

export interface BacklogFigures {
  /** Telemetry stored but not yet acknowledged by the bridge (not delivered + delivered, unacked). */
  median: number;
  max: number;
  samples: number;
}

/**
 * Samples the bridge consumer's backlog (`num_pending + num_ack_pending`)
 * every `intervalMs`: the messages the bridge has yet to turn into signals.
 */
export class BridgeBacklog {
  readonly #nc: NatsConnection;
  readonly #consumer: string;
  readonly #samples: number[] = [];
  #jsm: JetStreamManager | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reading: Promise<unknown> = Promise.resolve();

  constructor(nc: NatsConnection, consumer: string) {
    this.#nc = nc;
    this.#consumer = consumer;
  }

  /** The last sample, or 0 before the first. */
  get latest(): number {
    return this.#samples.at(-1) ?? 0;
  }

  start(intervalMs = 1000): void {
    const sample = () => {
      this.#reading = this.#reading.then(async () => {
        try {
          this.#jsm ??= await jetstreamManager(this.#nc);
          const info = await this.#jsm.consumers.info(TELEMETRY_STREAM, this.#consumer);
          this.#samples.push(info.num_pending + info.num_ack_pending);
        } catch {
          // A busy server answered late: skip this tick.
        }
      });
    };
    this.#timer = setInterval(sample, intervalMs);
  }

  async stop(): Promise<BacklogFigures> {
    clearInterval(this.#timer);
    await this.#reading;
    return {
      median: this.#samples.length ? median(this.#samples) : 0,
      max: Math.max(0, ...this.#samples),
      samples: this.#samples.length,
    };
  }
}
