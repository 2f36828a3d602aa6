import { jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeBatchesDurably, type ConsumerLoop } from '../../services/nats/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

// consumeBatchesDurably against a real JetStream: a key's messages that
// arrive while its lane is busy are handed over together, in order.

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

/** A stream of its own, `<prefix>.<key>.n` subjects; the consumer's batches as `key:n` lists. */
async function batchingRig(options: { maxBatch?: number; failFirstBatchOnce?: boolean } = {}) {
  const stream = uniqueId('BATCH').replace(/-/g, '_');
  const prefix = stream.toLowerCase();
  await (await jetstreamManager(h.nc)).streams.add({ name: stream, subjects: [`${prefix}.>`] });
  const batches: string[][] = [];
  let release!: () => void;
  const firstBatchHeld = new Promise<void>((resolve) => (release = resolve));
  let failed = false;
  /** Messages the consumer took from JetStream (keyOf runs on each, just before it joins a batch). */
  let taken = 0;
  const consumer: ConsumerLoop = await consumeBatchesDurably(
    h.nc,
    stream,
    'batcher',
    async (batch: JsMsg[]) => {
      batches.push(batch.map((msg) => `${msg.subject.split('.')[1]}:${msg.string()}`));
      if (batches.length === 1) await firstBatchHeld;
      if (options.failFirstBatchOnce && !failed && batches.length === 2) {
        failed = true;
        throw new Error('handler trouble');
      }
      for (const msg of batch) msg.ack();
    },
    {
      keyOf: (msg) => {
        taken += 1;
        return msg.subject.split('.')[1]!;
      },
      ...(options.maxBatch ? { maxBatch: options.maxBatch } : {}),
    },
  );
  const js = jetstream(h.nc);
  const publish = async (key: string, from: number, to: number) => {
    for (let n = from; n <= to; n++) await js.publish(`${prefix}.${key}.n`, String(n));
  };
  const batchesReach = (count: number) =>
    eventually(`${count} batches handed over`, () => batches.length >= count);
  const takenReach = (count: number) =>
    eventually(`${count} messages taken by the consumer`, () => taken >= count);
  return { batches, release, publish, batchesReach, takenReach, stop: () => consumer.stop() };
}

describe('consumeBatchesDurably', () => {
  it('hands over the messages a key got while its lane was busy as one batch, oldest first', async () => {
    const rig = await batchingRig();
    await rig.publish('a', 1, 1);
    await rig.batchesReach(1); // a:1 is in hand, and held
    await rig.publish('a', 2, 6);
    await rig.publish('b', 1, 3);
    await rig.takenReach(9); // all of them reach the consumer while a:1 is held
    rig.release();
    await rig.batchesReach(3);
    await rig.stop();

    expect(rig.batches).toEqual([['a:1'], ['a:2', 'a:3', 'a:4', 'a:5', 'a:6'], ['b:1', 'b:2', 'b:3']]);
  });

  it('keeps a batch to maxBatch messages, the rest following in order', async () => {
    const rig = await batchingRig({ maxBatch: 3 });
    await rig.publish('a', 1, 1);
    await rig.batchesReach(1);
    await rig.publish('a', 2, 8);
    await rig.takenReach(8);
    rig.release();
    await rig.batchesReach(4);
    await rig.stop();

    expect(rig.batches).toEqual([['a:1'], ['a:2', 'a:3', 'a:4'], ['a:5', 'a:6', 'a:7'], ['a:8']]);
  });

  it('has every message of a batch whose handler threw delivered again', async () => {
    const rig = await batchingRig({ failFirstBatchOnce: true });
    await rig.publish('a', 1, 1);
    await rig.batchesReach(1);
    await rig.publish('a', 2, 3);
    await rig.takenReach(3);
    rig.release();
    await rig.batchesReach(3);
    await rig.stop();

    expect(rig.batches.slice(1).flat().sort()).toEqual(['a:2', 'a:2', 'a:3', 'a:3']);
  });
});
