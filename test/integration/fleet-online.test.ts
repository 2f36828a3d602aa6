import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import { FleetMetrics } from '../../services/api/index.ts';
import { ONLINE_WINDOW_MS, PRESENCE_BUCKET } from '../../services/nats/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

// Online and offline devices, as the fleet page and /metrics count them, from
// the presence the heartbeats keep. The clock is a day ahead: every device of
// the other files was heard of "long ago" (offline); only the presence
// written here with that clock's time is online.
const DAY = 86_400_000;
let h: Harness;
let metrics: FleetMetrics;
const ahead = () => new Date(Date.now() + DAY);

beforeAll(async () => {
  h = await startHarness();
  metrics = await FleetMetrics.start(h.nc, { now: ahead });
});
afterAll(async () => {
  metrics?.stop();
  await h?.close();
});

describe('devices online and offline', () => {
  it('counts a device heard of within five minutes online, one heard of before offline, live', async () => {
    const before = metrics.online();
    expect(before.online).toBe(0);
    const presence = await new Kvm(h.nc).open(PRESENCE_BUCKET);
    const seen = (msAgo: number) =>
      JSON.stringify({ lastSeenAt: new Date(ahead().getTime() - msAgo).toISOString(), revision: null });
    await presence.put(uniqueId('online'), seen(0));
    await presence.put(uniqueId('offline'), seen(ONLINE_WINDOW_MS + 60_000));
    await eventually('both devices counted', () => {
      const now = metrics.online();
      return now.online === 1 && now.offline >= before.offline + 1;
    });
    const text = await metrics.text();
    expect(text).toMatch(/^uproll_devices_online 1$/m);
    expect(text).toMatch(/^uproll_devices_offline [1-9]\d*$/m);
  });
});
