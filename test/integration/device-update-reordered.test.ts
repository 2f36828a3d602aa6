import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStoredTelemetry } from '../../services/telemetry/index.ts';
import { startDeviceUpdate } from '../../services/temporal/index.ts';
import type { ProtocolFleet } from '../../sim/index.ts';
import { deviceProgressSignal } from '../../workflows/contracts.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';
import { eventually } from '../helpers/eventually.ts';
import { startFleetOf } from '../helpers/protocol-fleet-rig.ts';
import { COMMITTED_UPDATE_EVENTS } from './expected-events.ts';
import { uniqueId } from './harness.ts';
import { startOwnStack } from './own-stack.ts';

// With several `uproll serve` processes, a device's telemetry is shared out between
// their telemetry bridges, so its reports can reach the device update out of order.
// Here no bridge runs: the test signals the later phases itself and never the
// earlier ones, as if another bridge had them still. On a stack of its own: every
// other file's bridge on the shared one signals any device update it hears of.

let own: Awaited<ReturnType<typeof startOwnStack>>;
let fleet: ProtocolFleet;
let deviceId: string;

beforeAll(async () => {
  own = await startOwnStack('reordered', { bridge: false });
  const started = await startFleetOf({
    count: 1,
    prefix: uniqueId('reordered'),
    repos: own.repos,
    stateDir: own.stateDir,
    natsUrl: own.services.addresses.nats,
  });
  fleet = started.fleet;
  deviceId = started.devices[0]!;
}, 120_000);
afterAll(async () => {
  await fleet?.stop();
  await own?.close();
});

describe('a device update whose telemetry comes out of order', () => {
  it('fills the phases it has not seen from the stored telemetry: each in the event log once, in order', async () => {
    const revision = uniqueId('rev');
    const { repos, services } = own;
    await repos.publish(revision, randomArtifacts(1, 1024));
    const rolloutId = uniqueId('r');
    const handle = await startDeviceUpdate(services.client, { deviceId, command: { rolloutId, revision } });
    const stored = await eventually('the device to store its committed telemetry', async () => {
      const reports = await readStoredTelemetry(services.nc, deviceId, rolloutId);
      return reports.some((report) => report.phase === 'committed') && reports;
    });
    expect(stored.map((report) => report.phase)).toEqual(COMMITTED_UPDATE_EVENTS.slice(2).map(phaseOf));

    const later = stored.filter((report) => ['installed', 'healthy', 'committed'].includes(report.phase));
    await handle.signal(deviceProgressSignal, later);
    const result = await handle.result();

    expect(result.phases).toEqual(['commanded', ...COMMITTED_UPDATE_EVENTS.slice(2).map(phaseOf)]);
    const events = (await services.eventLog.read('device', deviceId))
      .filter(({ event }) => (event.data as { rolloutId?: string }).rolloutId === rolloutId)
      .map(({ event }) => event.type);
    expect(events).toEqual(COMMITTED_UPDATE_EVENTS);
  });
});

/** `device.update.downloaded` -> `downloaded`. */
function phaseOf(eventType: string): string {
  return eventType.slice('device.update.'.length);
}
