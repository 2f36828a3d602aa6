import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { subjects } from '../../core/index.ts';
import {
  provisionNatsDevice,
  requireSettings,
  revokeNatsDevice,
  stackAddresses,
  localNatsTls,
} from '../../services/dev-stack/index.ts';
import { connectToNats } from '../../services/nats/index.ts';
import { uniqueId } from './harness.ts';

const { stateDir } = inject('integration');
const clock = () => new Date();
const connections: NatsConnection[] = [];
afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close()));
});

/** Connects as the device with one of its seeds, as its agent does. */
async function connectAs(deviceId: string, seed: string): Promise<NatsConnection> {
  const nc = await connectToNats({
    servers: stackAddresses(await requireSettings(stateDir)).nats,
    tls: await localNatsTls(stateDir),
    nkeySeed: seed,
    name: deviceId,
    inboxPrefix: subjects.deviceInboxPrefix(deviceId),
  });
  connections.push(nc);
  return nc;
}

describe("a device's NATS credentials", () => {
  describe('when the device is provisioned again, keeping its earlier credentials', () => {
    it('connects with the earlier seed and with the new one', async () => {
      const deviceId = uniqueId('reprov');
      const earlier = await provisionNatsDevice(stateDir, deviceId, { clock });
      const running = await connectAs(deviceId, earlier.credentials);
      const renewed = await provisionNatsDevice(stateDir, deviceId, { clock, keepExisting: true });

      await expect(connectAs(deviceId, earlier.credentials)).resolves.toBeDefined();
      await expect(connectAs(deviceId, renewed.credentials)).resolves.toBeDefined();
      expect(running.isClosed()).toBe(false);
    });
  });

  describe('when they are revoked', () => {
    it('are refused from then on, and the connection the device had is dropped', async () => {
      const deviceId = uniqueId('revoke');
      const earlier = await provisionNatsDevice(stateDir, deviceId, { clock });
      const renewed = await provisionNatsDevice(stateDir, deviceId, { clock, keepExisting: true });
      const running = await connectAs(deviceId, renewed.credentials);
      const dropped = (async () => {
        for await (const status of running.status()) if (status.type === 'disconnect') return status.type;
        return 'closed without a disconnect';
      })();

      expect(await revokeNatsDevice(stateDir, deviceId, clock)).toEqual({ keys: 2 });

      expect(await dropped).toBe('disconnect');
      for (const seed of [earlier.credentials, renewed.credentials])
        await expect(connectAs(deviceId, seed)).rejects.toThrow(/authorization/i);
    });
  });
});
