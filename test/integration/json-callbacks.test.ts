import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onJson } from '../../services/nats/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

// nats.js runs a subscription's callback inside the connection's reader: a callback that throws
// stops the reader for good, and every request after it times out while the connection says it
// is open. Seen in CI: a test watching every device's telemetry parsed forged telemetry another
// file published ('mine'), and each of its commands after that was DEVICE_UNREACHABLE.
let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('a JSON subscription callback (onJson)', () => {
  it('passes over a message that is not JSON, and the connection still answers requests', async () => {
    const deviceId = uniqueId('forger');
    const subject = `uproll.dev.${deviceId}.telemetry`;
    const heard: unknown[] = [];
    const watching = h.nc.subscribe(subject, { callback: onJson((value) => heard.push(value)) });
    const service = uniqueId('echo');
    const echo = h.nc.subscribe(service, { callback: (_err, msg) => void msg.respond(msg.data) });
    try {
      await h.nc.flush();
      h.nc.publish(subject, 'mine');
      h.nc.publish(subject, JSON.stringify({ deviceId }));
      await eventually('the JSON message heard', () => heard.length === 1);
      expect(heard).toEqual([{ deviceId }]);
      const reply = await h.nc.request(service, 'still here', { timeout: 10_000 });
      expect(reply.string()).toBe('still here');
    } finally {
      watching.unsubscribe();
      echo.unsubscribe();
    }
  });
});
