import { describe, expect, it } from 'vitest';
import { createNkeyIdentity } from '../../../keys/index.ts';
import { renderNatsServerConfig } from '../../../services/nats/index.ts';

describe('nats-server configuration', () => {
  const service = createNkeyIdentity();
  const device = createNkeyIdentity();
  const config = JSON.parse(
    renderNatsServerConfig({
      serverName: 'test',
      host: '127.0.0.1',
      port: 4222,
      monitorPort: 8222,
      storeDir: '/tmp/store',
      serviceKeys: [service.publicKey],
      devices: [{ deviceId: 'd1', publicKey: device.publicKey }],
    }),
  ) as { accounts: { UPROLL: { jetstream: string; users: { nkey: string; permissions?: unknown }[] } } };
  const users = config.accounts.UPROLL.users;

  it('puts services and devices in one JetStream account', () => {
    expect(config.accounts.UPROLL.jetstream).toBe('enabled');
    expect(users.map((u) => u.nkey)).toEqual([service.publicKey, device.publicKey]);
  });

  it('gives services full access', () => {
    expect(users[0]?.permissions).toBeUndefined();
  });

  it('confines a device to its own subjects and inbox', () => {
    expect(users[1]?.permissions).toEqual({
      publish: { allow: ['uproll.dev.d1.>'] },
      subscribe: { allow: ['uproll.cmd.d1.>', '_UPROLL_INBOX.d1.>'] },
      allow_responses: { max: 1, expires: '1m' },
    });
  });

  it('never contains a seed', () => {
    const text = JSON.stringify(config);
    expect(text).not.toContain(service.seed);
    expect(text).not.toContain(device.seed);
  });
});
