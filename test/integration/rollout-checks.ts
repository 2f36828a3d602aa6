import type { NatsConnection } from '@nats-io/transport-node';
import { expect } from 'vitest';
import type { EventLog } from '../../services/nats/index.ts';
import { readProjections, rebuildProjections } from '../../services/projections/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { COMMITTED_UPDATE_EVENTS } from './expected-events.ts';

// What a rollout that survived a crash must still show: each device's update in the event log
// once and in order, and projections equal to those rebuilt from the whole log.

/** Each device's update events of rollout `rolloutId` are those of one committed update, in order. */
export async function expectEachDeviceCommittedOnce(
  eventLog: EventLog,
  devices: readonly string[],
  rolloutId: string,
): Promise<void> {
  const perDevice = await Promise.all(
    devices.map(async (deviceId) =>
      (await eventLog.read('device', deviceId))
        .filter(({ event }) => (event.data as { rollout?: string }).rollout === rolloutId)
        .map(({ event }) => event.type)
        .filter((type) => type.startsWith('device.update.')),
    ),
  );
  const wrong = devices
    .map((deviceId, i) => ({ deviceId, events: perDevice[i] }))
    .filter(({ events }) => JSON.stringify(events) !== JSON.stringify(COMMITTED_UPDATE_EVENTS));
  expect(wrong).toEqual([]);
}

/** The live projections equal those rebuilt from the whole event log, side by side; every device is in them. */
export async function expectProjectionsEqualARebuild(
  nc: NatsConnection,
  devices: readonly string[],
): Promise<void> {
  const rebuilt = { rollouts: 'REBUILT_ROLLOUTS', devices: 'REBUILT_DEVICES', fleet: 'REBUILT_FLEET' };
  await rebuildProjections(nc, { buckets: rebuilt });
  const fromRebuild = await readProjections(nc, rebuilt);
  expect(devices.filter((deviceId) => !fromRebuild.devices[deviceId])).toEqual([]);
  await eventually('the live projector to catch up with a rebuild', async () => {
    expect(await readProjections(nc)).toEqual(fromRebuild);
    return true;
  });
}
