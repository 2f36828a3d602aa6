import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjects } from '../../core/index.ts';
import { connectToNats } from '../../services/nats/index.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

let h: Harness;
let deviceA: string;
let deviceB: string;
let a: NatsConnection;
const permissionErrors: string[] = [];

beforeAll(async () => {
  h = await startHarness();
  deviceA = uniqueId('perm-a');
  deviceB = uniqueId('perm-b');
  const identityA = await h.provisionDevice(deviceA);
  await h.provisionDevice(deviceB);
  a = await connectToNats({
    servers: h.addresses.nats,
    tls: h.natsTls,
    nkeySeed: identityA.credentials,
    name: deviceA,
    inboxPrefix: subjects.deviceInboxPrefix(deviceA),
  });
  void (async () => {
    for await (const status of a.status()) {
      if (status.type === 'error') permissionErrors.push(String(status.error));
    }
  })();
});
afterAll(async () => {
  await a.close();
  await h.close();
});

/** Messages the service sees on `subject` while `act` runs. */
async function seenBy(subject: string, act: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const sub = h.nc.subscribe(subject, {
    callback: (err, msg) => void (err ? undefined : seen.push(msg.string())),
  });
  await h.nc.flush();
  await act();
  await a.flush();
  await h.nc.flush();
  sub.unsubscribe();
  return seen;
}

describe('per-device NATS permissions', () => {
  describe('when a device publishes telemetry', () => {
    it('reaches the service on its own subject', async () => {
      const seen = await seenBy(subjects.telemetry(deviceA), async () => {
        a.publish(subjects.telemetry(deviceA), 'mine');
        await a.flush();
      });
      expect(seen).toEqual(['mine']);
    });

    it("is refused on another device's subject", async () => {
      const seen = await seenBy(subjects.telemetry(deviceB), async () => {
        a.publish(subjects.telemetry(deviceB), 'forged');
        await a.flush();
      });
      expect(seen).toEqual([]);
      expect(permissionErrors.join('\n')).toContain(`Publish to "${subjects.telemetry(deviceB)}"`);
    });

    it('is refused on the event log', async () => {
      const seen = await seenBy('uproll.evt.device.x', async () => {
        a.publish('uproll.evt.device.x', 'forged event');
        await a.flush();
      });
      expect(seen).toEqual([]);
    });
  });

  describe("when a device subscribes to another device's commands", () => {
    it('gets a permission violation and never sees them', async () => {
      const received: string[] = [];
      const sub = a.subscribe(subjects.allCommands(deviceB), {
        callback: (err, msg) => void (err ? undefined : received.push(msg.string())),
      });
      await a.flush();
      h.nc.publish(subjects.command(deviceB, 'update'), 'secret command');
      await h.nc.flush();
      await a.flush();

      expect(received).toEqual([]);
      expect(await sub.closed).toBeInstanceOf(Error);
    });

    it("cannot read B's replies through B's inbox prefix either", async () => {
      const sub = a.subscribe(`${subjects.deviceInboxPrefix(deviceB)}.>`);
      await a.flush();
      expect(await sub.closed).toBeInstanceOf(Error);
    });
  });
});
