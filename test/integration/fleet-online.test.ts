import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { FleetMetrics, liveRoutes } from '../../services/api/index.ts';
import { ONLINE_WINDOW_MS, PRESENCE_BUCKET } from '../../services/nats/index.ts';
import { FLEET_KEY, openProjectionBucket } from '../../services/projections/index.ts';
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

describe('GET /fleet', () => {
  it('answers from the fleet the process follows as a read of every device would', async () => {
    const id = uniqueId('fleet')
      .replace(/[^A-Za-z0-9]/g, '_')
      .toUpperCase();
    const buckets = { rollouts: `${id}_R`, devices: `${id}_D`, fleet: `${id}_F` };
    const devices = await openProjectionBucket(h.nc, buckets, 'devices');
    const fleetBucket = await openProjectionBucket(h.nc, buckets, 'fleet');
    const view = (deviceId: string, phase?: string) =>
      JSON.stringify({
        deviceId,
        updatedAt: new Date().toISOString(),
        lastSequence: 1,
        ...(phase ? { phase } : {}),
      });
    await devices.put('d1', view('d1', 'committed'));
    await devices.put('d2', view('d2', 'committed'));
    await devices.put('d3', view('d3', 'failed'));
    await devices.put('d4', view('d4'));
    await fleetBucket.put(FLEET_KEY, JSON.stringify({ revisions: { r1: 2 }, devices: 2, lastSequence: 3 }));
    const followed = await FleetMetrics.start(h.nc, { now: ahead, buckets });
    try {
      const fleetOf = async (options: { followed?: FleetMetrics }) => {
        const route = liveRoutes({ nc: h.nc, buckets, ...options }).routes.find((r) => r.path === '/fleet')!;
        return route.handle({} as Parameters<typeof route.handle>[0]);
      };
      const expected = { devices: 4, revisions: { r1: 2 }, phases: { committed: 2, failed: 1, none: 1 } };
      expect(await fleetOf({})).toEqual(expected);
      expect(await fleetOf({ followed })).toMatchObject(expected);
      // What the followed answer is made of is in memory: with every device's value gone
      // from the bucket, only a read of the whole bucket sees the change.
      await (await jetstreamManager(h.nc)).streams.purge(`KV_${buckets.devices}`);
      expect(await fleetOf({})).toMatchObject({ devices: 0 });
      expect(await fleetOf({ followed })).toMatchObject(expected);
      await devices.put('d4', view('d4', 'committed'));
      await eventually('the new phase followed', async () => {
        const fleet = (await fleetOf({ followed })) as { phases: Record<string, number> };
        return fleet.phases['committed'] === 3 && fleet.phases['none'] === undefined;
      });
    } finally {
      followed.stop();
      const jsm = await jetstreamManager(h.nc);
      for (const name of Object.values(buckets)) await jsm.streams.delete(`KV_${name}`).catch(() => false);
    }
  });
});
