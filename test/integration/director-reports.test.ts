import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportSubject, subjects } from '../../core/index.ts';
import type { Signer } from '../../core/tuf/index.ts';
import { signDeviceManifest, signEcuVersionReport } from '../../core/uptane/index.ts';
import {
  DirectorRepository,
  startReportListener,
  type ReportListener,
} from '../../services/director/index.ts';
import { connectToNats } from '../../services/nats/index.ts';
import { newSigner } from '../helpers/keys.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';
import { eventually } from '../helpers/eventually.ts';

let h: Harness;
let director: DirectorRepository;
let listener: ReportListener;
let device: NatsConnection;
const deviceId = uniqueId('reporter');
const deviceKey = newSigner();

beforeAll(async () => {
  h = await startHarness();
  director = new DirectorRepository(await mkdtemp(join(tmpdir(), 'uproll-it-director-')));
  const online: Record<'targets' | 'snapshot' | 'timestamp', Signer[]> = {
    targets: [newSigner()],
    snapshot: [newSigner()],
    timestamp: [newSigner()],
  };
  const root = newSigner();
  await director.initialize(
    {
      root: [root.publicKey],
      rootThreshold: 1,
      targets: [online.targets[0]!.publicKey],
      snapshot: [online.snapshot[0]!.publicKey],
      timestamp: [online.timestamp[0]!.publicKey],
    },
    [root],
    new Date(),
  );
  await director.register(
    { deviceId, ecus: [{ serial: 'ecu-1', hardwareId: 'rpi4' }], publicKey: deviceKey.publicKey },
    online,
    new Date(),
  );
  listener = await startReportListener({
    nc: h.nc,
    director,
    eventLog: h.eventLog,
    consumerName: uniqueId('reports'),
    now: () => new Date(),
  });
  const { credentials: seed } = await h.provisionDevice(deviceId);
  device = await connectToNats({
    servers: h.addresses.nats,
    tls: h.natsTls,
    nkeySeed: seed,
    name: deviceId,
    inboxPrefix: subjects.deviceInboxPrefix(deviceId),
  });
});
afterAll(async () => {
  await device.close();
  await listener.stop();
  await h.close();
});

/** A signed manifest of the device, as its agent sends it. */
async function signedManifest(counter: number): Promise<string> {
  const time = new Date().toISOString();
  const report = await signEcuVersionReport(
    {
      ecuSerial: 'ecu-1',
      installedImage: {
        filepath: 'rootfs-2.img',
        fileinfo: { length: 10, hashes: { sha256: 'cd'.repeat(32) } },
      },
      attacksDetected: '',
      counter,
      time,
    },
    deviceKey,
  );
  const manifest = await signDeviceManifest(
    { deviceId, primaryEcuSerial: 'ecu-1', ecuVersionReports: { 'ecu-1': report }, counter, time },
    deviceKey,
  );
  return JSON.stringify(manifest);
}

/** Publishes on the device's report subject with its own credentials (no message id, as the agent). */
async function publish(report: string): Promise<void> {
  await jetstream(device).publish(reportSubject(deviceId), report);
}

const sendReport = async (counter: number) => publish(await signedManifest(counter));

async function eventsAfter(count: number) {
  return eventually(`${count} report events`, async () => {
    const events = (await h.eventLog.read('device', deviceId)).map((e) => e.event);
    return events.length >= count && events;
  });
}

/** The device's events from the `from`-th on, once one says `counter` was accepted. */
async function eventsUntilAccepted(from: number, counter: number) {
  return eventually(`report ${counter} accepted`, async () => {
    const events = (await h.eventLog.read('device', deviceId)).map((e) => e.event).slice(from);
    const done = events.some(
      (e) => e.type === 'device.report.accepted' && (e.data as { counter: number }).counter === counter,
    );
    return done && events;
  });
}

describe('device reports over NATS', () => {
  it('are verified by the Director, recorded in the inventory and on the event log', async () => {
    await sendReport(1);
    const [accepted] = await eventsAfter(1);
    expect(accepted).toMatchObject({ type: 'device.report.accepted', data: { counter: 1, ecus: ['ecu-1'] } });
    expect((await director.inventory(deviceId)).installed['ecu-1']?.filepath).toBe('rootfs-2.img');
  });

  it('reject a replayed report with its code, changing nothing', async () => {
    const before = await director.inventory(deviceId);
    await sendReport(1);
    const events = await eventsAfter(2);
    expect(events[1]).toMatchObject({
      type: 'device.report.rejected',
      data: { error: { code: 'REPLAYED_REPORT' } },
    });
    expect(await director.inventory(deviceId)).toEqual(before);
  });

  it('accept a manifest sent again as it was (a resend after a lost ack), changing nothing', async () => {
    const from = (await h.eventLog.read('device', deviceId)).length;
    const report = await signedManifest(2);
    await publish(report);
    await publish(report);
    await sendReport(3);

    const events = await eventsUntilAccepted(from, 3);
    expect(events.map((e) => [e.type, (e.data as { counter?: number }).counter])).toEqual([
      ['device.report.accepted', 2],
      ['device.report.accepted', 3],
    ]);
  });

  it('turn a burst of junk reports into a bounded number of events that count them', async () => {
    const from = (await h.eventLog.read('device', deviceId)).length;
    for (let i = 0; i < 300; i++) await publish(JSON.stringify({ junk: i }));
    await sendReport(4); // the device's reports are handled in order: the junk is behind us then
    await eventsUntilAccepted(from, 4);
    await listener.stop(); // tells what was counted and not told yet

    const rejected = (await h.eventLog.read('device', deviceId))
      .slice(from)
      .map((e) => e.event)
      .filter((e) => e.type === 'device.report.rejected');
    expect(rejected.length).toBeLessThanOrEqual(2);
    expect(rejected.reduce((sum, e) => sum + (e.data as { count: number }).count, 0)).toBe(300);
    expect(rejected.at(-1)?.data).toMatchObject({ source: deviceId, error: { code: 'INVALID_INPUT' } });
  });
});
