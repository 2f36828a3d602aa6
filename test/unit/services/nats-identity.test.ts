import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_DEVICE_QUOTAS } from '../../../services/nats/index.ts';
import {
  deploymentDeviceQuotas,
  initNatsIdentity,
  issueDeviceCredentials,
  natsIdentityPaths,
  readNatsIdentity,
  revokeDeviceCredentials,
} from '../../../services/nats-auth/index.ts';

let stateDir: string;
beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'uproll-nats-identity-'));
});

/** One instant, over and over: several changes within the same second. */
const instant = new Date();
const clock = () => instant;
const claimsOf = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as {
    iat: number;
    nats: { revocations?: Record<string, number> };
  };

describe("a deployment's NATS identity", () => {
  it('signs each account update strictly after the one before, even within one second', async () => {
    // A server keeps the account it has unless it is sent a newer one: two of the same second
    // would let an older copy (a configuration file written before a revocation) win.
    await initNatsIdentity(stateDir, { clock });
    const issuedAt = [claimsOf((await readNatsIdentity(stateDir))!.accountJwt).iat];
    for (const deviceId of ['dev-a', 'dev-b']) {
      await issueDeviceCredentials(stateDir, [deviceId], { clock });
      const { identity } = await revokeDeviceCredentials(stateDir, deviceId, clock);
      issuedAt.push(claimsOf(identity.accountJwt).iat);
    }

    expect(issuedAt[1]).toBeGreaterThan(issuedAt[0]!);
    expect(issuedAt[2]).toBeGreaterThan(issuedAt[1]!);
  });

  it('keeps every revocation in the account it signs next', async () => {
    await initNatsIdentity(stateDir, { clock });
    const [a, b] = [
      await issueDeviceCredentials(stateDir, ['dev-a'], { clock }),
      await issueDeviceCredentials(stateDir, ['dev-b'], { clock }),
    ];
    await revokeDeviceCredentials(stateDir, 'dev-a', clock);
    const { identity } = await revokeDeviceCredentials(stateDir, 'dev-b', clock);

    expect(Object.keys(claimsOf(identity.accountJwt).nats.revocations ?? {}).sort()).toEqual(
      [a.credentials[0]!.publicKey, b.credentials[0]!.publicKey].sort(),
    );
  });

  it('replacing a device’s credentials revokes the ones it had', async () => {
    await initNatsIdentity(stateDir, { clock });
    const first = await issueDeviceCredentials(stateDir, ['dev-a'], { clock });

    const replaced = await issueDeviceCredentials(stateDir, ['dev-a'], { clock });

    expect(replaced.revoked).toBe(1);
    expect(Object.keys((await readNatsIdentity(stateDir))!.revocations)).toEqual([
      first.credentials[0]!.publicKey,
    ]);
  });

  it('replaces the credentials of many devices with one account update', async () => {
    await initNatsIdentity(stateDir, { clock });
    const devices = ['dev-a', 'dev-b', 'dev-c'];
    await issueDeviceCredentials(stateDir, devices, { clock });
    const before = claimsOf((await readNatsIdentity(stateDir))!.accountJwt).iat;

    const replaced = await issueDeviceCredentials(stateDir, devices, { clock });

    expect(replaced.revoked).toBe(3);
    expect(claimsOf((await readNatsIdentity(stateDir))!.accountJwt).iat).toBe(before + 1);
  });

  it('is created once: init again keeps every key', async () => {
    const { identity } = await initNatsIdentity(stateDir, { clock });
    const again = await initNatsIdentity(stateDir, { clock, servers: 'nats://n.example.com:4222' });

    expect(again.created).toBe(false);
    expect(again.identity).toEqual({ ...identity, servers: 'nats://n.example.com:4222' });
  });

  describe('when identity.json names device quotas', () => {
    /** Writes `deviceQuotas` into the identity, as an operator edits the file. */
    async function configure(deviceQuotas: unknown) {
      const path = natsIdentityPaths(stateDir).identity;
      const identity = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
      await writeFile(path, JSON.stringify({ ...identity, deviceQuotas }));
    }

    it('signs devices with them and keeps the defaults for the rest', async () => {
      await initNatsIdentity(stateDir, { clock });
      await configure({ subscriptions: 3, telemetryPerDevice: 10 });
      const [issued] = (await issueDeviceCredentials(stateDir, ['dev-a'], { clock })).credentials;
      const jwt = /-----BEGIN NATS USER JWT-----\n(.+)\n/.exec(issued!.credentials)![1]!;

      expect(claimsOf(jwt).nats).toMatchObject({ subs: 3, payload: DEFAULT_DEVICE_QUOTAS.payloadBytes });
      expect(await deploymentDeviceQuotas(stateDir)).toEqual({
        ...DEFAULT_DEVICE_QUOTAS,
        subscriptions: 3,
        telemetryPerDevice: 10,
      });
    });

    it('refuses a quota it does not know, naming it', async () => {
      await initNatsIdentity(stateDir, { clock });
      await configure({ bandwidth: 2 });

      await expect(deploymentDeviceQuotas(stateDir)).rejects.toThrow(/bandwidth/);
    });
  });
});
