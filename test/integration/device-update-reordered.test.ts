import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStoredTelemetry } from '../../services/telemetry/index.ts';
import type { ProtocolFleet } from '../../sim/index.ts';
import { deviceProgressSignal } from '../../workflows/contracts.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';
import { eventually } from '../helpers/eventually.ts';
import { startFleetOf } from '../helpers/protocol-fleet-rig.ts';
import { COMMITTED_UPDATE_EVENTS } from './expected-events.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

// With several `uproll serve` processes, a device's telemetry is shared out between
// their telemetry bridges, so its reports can reach the device update out of order.
// Here no bridge runs: the test signals the later phases itself and never the
// earlier ones, as if another bridge had them still.

let h: Harness;
let fleet: ProtocolFleet;
let deviceId: string;

beforeAll(async () => {
  h = await startHarness({ bridge: false });
  await h.startWorker();
  const started = await startFleetOf({
    count: 1,
    prefix: uniqueId('reordered'),
    repos: h.repos,
    stateDir: h.stateDir,
    natsUrl: h.addresses.nats,
  });
  fleet = started.fleet;
  deviceId = started.devices[0]!;
}, 60_000);
afterAll(async () => {
  await fleet?.stop();
  await h?.close();
});

describe('a device update whose telemetry comes out of order', () => {
  it('fills the phases it has not seen from the stored telemetry: each in the event log once, in order', async () => {
    const revision = uniqueId('rev');
    await h.repos.publish(revision, randomArtifacts(1, 1024));
    const rolloutId = uniqueId('r');
    const handle = await h.startDeviceUpdate({ deviceId, command: { rolloutId, revision } });
    const stored = await eventually('the device to store its committed telemetry', async () => {
      const reports = await readStoredTelemetry(h.nc, deviceId, rolloutId);
      return reports.some((report) => report.phase === 'committed') && reports;
    });
    expect(stored.map((report) => report.phase)).toEqual(COMMITTED_UPDATE_EVENTS.slice(2).map(phaseOf));

    const later = stored.filter((report) => ['installed', 'healthy', 'committed'].includes(report.phase));
    await handle.signal(deviceProgressSignal, later);
    const result = await handle.result();

    expect(result.phases).toEqual(['commanded', ...COMMITTED_UPDATE_EVENTS.slice(2).map(phaseOf)]);
    const events = (await h.eventLog.read('device', deviceId))
      .filter(({ event }) => (event.data as { rolloutId?: string }).rolloutId === rolloutId)
      .map(({ event }) => event.type);
    expect(events).toEqual(COMMITTED_UPDATE_EVENTS);
  });
});

/** `device.update.downloaded` -> `downloaded`. */
function phaseOf(eventType: string): string {
  return eventType.slice('device.update.'.length);
}
