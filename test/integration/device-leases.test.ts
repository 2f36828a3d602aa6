import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceLeases } from '../../services/nats/index.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

let h: Harness;
let leases: DeviceLeases;
beforeAll(async () => {
  h = await startHarness();
  leases = new DeviceLeases(h.nc);
});
afterAll(() => h.close());

/** Which rollouts still run, as Temporal would answer. */
const runningAre =
  (...running: string[]) =>
  (rolloutId: string) =>
    Promise.resolve(running.includes(rolloutId));

describe('device leases on JetStream', () => {
  it('lets one rollout hold a device, and another only once the holder has ended', async () => {
    const device = uniqueId('lease');
    expect(await leases.acquire(device, 'first', runningAre('first', 'second'))).toBe(true);
    expect(await leases.acquire(device, 'second', runningAre('first', 'second'))).toBe(false);
    expect(await leases.acquire(device, 'second', runningAre('second'))).toBe(true);
    expect(await leases.holder(device)).toBe('second');
  });

  it('gives no device to a rollout that has ended (the late update of a terminated rollout)', async () => {
    const device = uniqueId('lease');
    expect(await leases.acquire(device, 'terminated', runningAre())).toBe(false);
    expect(await leases.holder(device)).toBeUndefined();
    expect(await leases.acquire(device, 'next', runningAre('next'))).toBe(true);
  });

  it('decides again when another writer moved the lease on between its read and its write', async () => {
    const device = uniqueId('lease');
    await leases.acquire(device, 'terminated', runningAre('terminated'));
    let raced = false;
    // While the next rollout asks whether the holder runs, the holder's own update lets the device go.
    const taken = await leases.acquire(device, 'next', async (rolloutId) => {
      if (rolloutId === 'terminated' && !raced) {
        raced = true;
        await new DeviceLeases(h.nc).release(device, 'terminated');
      }
      return rolloutId === 'next';
    });
    expect(raced).toBe(true);
    expect(taken).toBe(true);
    expect(await leases.holder(device)).toBe('next');
  });
});
