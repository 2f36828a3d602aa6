import {
  jetstream,
  jetstreamManager,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { assertToken } from '../../core/index.ts';
import { LEASES_STREAM } from './streams.ts';

/** JetStream's API error code for a failed expected-last-subject-sequence check. */
const WRONG_LAST_SEQUENCE = 10071;
/** Reads and writes of one acquire: each lost race means another writer moved the lease on. */
const MAX_ACQUIRE_ATTEMPTS = 5;

interface Lease {
  rolloutId: string;
  held: boolean;
}

/**
 * Which rollout a device belongs to right now: one message per device on
 * `uproll.lease.<device>` (the stream keeps only the last), changed only by
 * a compare-and-set on its sequence, so two rollouts can never both take a
 * device, whatever the timing.
 */
export class DeviceLeases {
  readonly #js: JetStreamClient;
  readonly #nc: NatsConnection;
  #jsm: JetStreamManager | undefined;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
    this.#js = jetstream(nc);
  }

  /**
   * Takes the device for the rollout. True when it holds it (again); false
   * when another rollout does, or when this one has ended itself. A holder
   * that `isActive` says has ended (it was terminated, or crashed past its
   * own cleanup) loses the device; an ended rollout's update that starts
   * late (its rollout was terminated) takes none. A write that lost a race
   * is decided again on what won it.
   */
  async acquire(
    deviceId: string,
    rolloutId: string,
    isActive: (rolloutId: string) => Promise<boolean> = () => Promise.resolve(true),
  ): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.#current(deviceId);
      if (current?.lease.held) {
        if (current.lease.rolloutId === rolloutId) return true;
        if (await isActive(current.lease.rolloutId)) return false;
      }
      if (!(await isActive(rolloutId))) return false;
      if (await this.#write(deviceId, { rolloutId, held: true }, current?.sequence ?? 0)) return true;
      if (attempt === MAX_ACQUIRE_ATTEMPTS) return false;
    }
  }

  /** Lets the device go, if this rollout holds it. */
  async release(deviceId: string, rolloutId: string): Promise<void> {
    const current = await this.#current(deviceId);
    if (!current?.lease.held || current.lease.rolloutId !== rolloutId) return;
    await this.#write(deviceId, { rolloutId, held: false }, current.sequence);
  }

  /** The rollout holding the device, if any. */
  async holder(deviceId: string): Promise<string | undefined> {
    const current = await this.#current(deviceId);
    return current?.lease.held ? current.lease.rolloutId : undefined;
  }

  async #current(deviceId: string): Promise<{ lease: Lease; sequence: number } | undefined> {
    this.#jsm ??= await jetstreamManager(this.#nc);
    const message = await this.#jsm.streams
      .getMessage(LEASES_STREAM, { last_by_subj: subject(deviceId) })
      .catch((err: unknown) => {
        if (err instanceof JetStreamApiError && err.code === 10037) return null; // no message
        throw err;
      });
    return message ? { lease: message.json<Lease>(), sequence: message.seq } : undefined;
  }

  async #write(deviceId: string, lease: Lease, expected: number): Promise<boolean> {
    try {
      await this.#js.publish(subject(deviceId), JSON.stringify(lease), {
        expect: { streamName: LEASES_STREAM, lastSubjectSequence: expected },
      });
      return true;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE) return false; // lost a race
      throw err;
    }
  }
}

function subject(deviceId: string): string {
  return `uproll.lease.${assertToken(deviceId, 'device id')}`;
}
