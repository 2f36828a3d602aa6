import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { subjects } from '../../core/index.ts';
import { connectToNats, DEFAULT_DEVICE_QUOTAS, TELEMETRY_STREAM } from '../../services/nats/index.ts';
import { deviceUserKeys } from '../../services/nats-auth/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

// Issue 17, finding 2: one device's credentials must not let it use up what every device shares.

let h: Harness;
let deviceA: string;
let deviceB: string;
const credentials = new Map<string, string>();
const connections: NatsConnection[] = [];

beforeAll(async () => {
  h = await startHarness();
  deviceA = uniqueId('quota-a');
  deviceB = uniqueId('quota-b');
  for (const id of [deviceA, deviceB]) credentials.set(id, (await h.provisionDevice(id)).credentials);
});
afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close().catch(() => undefined)));
  await h.close();
});

/** A new connection of `deviceId`, as its agent makes one, and the errors the server sends it. */
async function connectAs(deviceId: string) {
  const nc = await connectToNats({
    servers: h.addresses.nats,
    tls: h.natsTls,
    nkeySeed: credentials.get(deviceId) ?? '',
    name: deviceId,
    inboxPrefix: subjects.deviceInboxPrefix(deviceId),
  });
  connections.push(nc);
  const errors: string[] = [];
  void (async () => {
    for await (const status of nc.status()) if (status.type === 'error') errors.push(String(status.error));
  })();
  return { nc, errors };
}

/** How many messages the telemetry stream holds on `deviceId`'s subject. */
async function storedTelemetryOf(deviceId: string): Promise<number> {
  const subject = subjects.telemetry(deviceId);
  const info = await (
    await jetstreamManager(h.nc)
  ).streams.info(TELEMETRY_STREAM, {
    subjects_filter: subject,
  });
  return info.state.subjects?.[subject] ?? 0;
}

let published = 0;
/** Publishes `count` telemetry messages of `bytes` each as the device, acknowledged by JetStream. */
async function publishTelemetry(nc: NatsConnection, deviceId: string, count: number, bytes: number) {
  const js = jetstream(nc);
  const body = 'x'.repeat(bytes);
  for (let sent = 0; sent < count; sent += 100) {
    const batch = Array.from({ length: Math.min(100, count - sent) }, () =>
      js.publish(subjects.telemetry(deviceId), body, { msgID: `${deviceId}/${published++}` }),
    );
    await Promise.all(batch);
  }
}

describe('per-device quotas', () => {
  describe('when a device floods its telemetry', () => {
    it('keeps only its newest messages, up to its quota, and every message of another device', async () => {
      const a = await connectAs(deviceA);
      const b = await connectAs(deviceB);
      await publishTelemetry(b.nc, deviceB, 5, 100);
      const quota = DEFAULT_DEVICE_QUOTAS.telemetryPerDevice;

      await publishTelemetry(a.nc, deviceA, quota + 300, 15 * 1024);
      await publishTelemetry(b.nc, deviceB, 5, 100);

      expect(await storedTelemetryOf(deviceA)).toBe(quota);
      expect(await storedTelemetryOf(deviceB)).toBe(10);
    });
  });

  describe('when a device subscribes past its quota', () => {
    it('is refused the subscription over it, and another device still subscribes', async () => {
      const a = await connectAs(deviceA);
      const limit = DEFAULT_DEVICE_QUOTAS.subscriptions;
      const received: string[] = [];
      for (let i = 0; i <= limit; i++)
        a.nc.subscribe(subjects.command(deviceA, `probe${i}`), {
          callback: (err, msg) => void (err ? undefined : received.push(msg.subject)),
        });
      await a.nc.flush();
      const b = await connectAs(deviceB);
      const bReceived: string[] = [];
      b.nc.subscribe(subjects.command(deviceB, 'probe'), {
        callback: (err, msg) => void (err ? undefined : bReceived.push(msg.subject)),
      });
      await b.nc.flush();

      h.nc.publish(subjects.command(deviceA, 'probe0'), 'first');
      h.nc.publish(subjects.command(deviceA, `probe${limit}`), 'over the quota');
      h.nc.publish(subjects.command(deviceB, 'probe'), 'to b');
      await h.nc.flush();

      await eventually('both devices to get what they subscribed to within quota', () => {
        expect(received).toContain(subjects.command(deviceA, 'probe0'));
        expect(bReceived).toEqual([subjects.command(deviceB, 'probe')]);
        return true;
      });
      expect(received).not.toContain(subjects.command(deviceA, `probe${limit}`));
      expect(a.errors.join('\n')).toMatch(/maximum subscriptions exceeded/i);
    });
  });

  describe('when a device sends a message over its payload quota', () => {
    it('is refused, and another device still publishes', async () => {
      const a = await connectAs(deviceA);
      const b = await connectAs(deviceB);
      const before = await storedTelemetryOf(deviceA);

      // nats.js refuses to send what the server said is too big; an attacker's own client would not.
      (a.nc as unknown as { protocol: { info: { max_payload: number } } }).protocol.info.max_payload =
        1 << 20;
      a.nc.publish(subjects.telemetry(deviceA), 'x'.repeat(DEFAULT_DEVICE_QUOTAS.payloadBytes + 1));
      await eventually('the server to refuse the message', () =>
        /maximum payload/i.test(a.errors.join('\n')),
      );
      await publishTelemetry(b.nc, deviceB, 1, 100);

      expect(await storedTelemetryOf(deviceA)).toBe(before);
    });
  });

  describe('when a device opens more connections than its quota', () => {
    it('is revoked by the services, its connections closed, and another device stays connected', async () => {
      const { stateDir } = inject('integration');
      const hog = uniqueId('quota-hog');
      credentials.set(hog, (await h.provisionDevice(hog)).credentials);
      const limit = DEFAULT_DEVICE_QUOTAS.connections;
      const hogs = await Promise.all(Array.from({ length: limit + 1 }, () => connectAs(hog)));
      const b = await connectAs(deviceB);
      const stored = await storedTelemetryOf(deviceB);

      // The services' connection guard (every 10 s) finds it over its quota and revokes it.
      await eventually('the server to close every connection of the revoked device', () =>
        hogs.every(({ errors }) => /authorization|revoked/i.test(errors.join('\n'))),
      );
      expect(await deviceUserKeys(stateDir, hog)).toEqual([]);
      expect(await deviceUserKeys(stateDir, deviceB)).toHaveLength(1);
      await publishTelemetry(b.nc, deviceB, 1, 100);
      expect(await storedTelemetryOf(deviceB)).toBe(stored + 1);
    });
  });
});
