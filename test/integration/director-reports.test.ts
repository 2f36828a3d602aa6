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

async function sendReport(counter: number): Promise<void> {
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
  await jetstream(device).publish(reportSubject(deviceId), JSON.stringify(manifest), {
    msgID: `${deviceId}/${counter}/${Math.random()}`,
  });
}

async function eventsAfter(count: number) {
  return eventually(`${count} report events`, async () => {
    const events = (await h.eventLog.read('device', deviceId)).map((e) => e.event);
    return events.length >= count && events;
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
});
