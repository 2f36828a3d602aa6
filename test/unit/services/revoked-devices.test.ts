import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tagDevice, targetDevices } from '../../../services/director/index.ts';
import { startSimulatedRepositories } from '../../../sim/index.ts';

// A device whose credentials were revoked (lost, stolen) cannot connect: as a
// canary it pends offline and the gate passes with no signal, so rollouts leave it out.
let dir: string;
let repos: Awaited<ReturnType<typeof startSimulatedRepositories>>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uproll-revoked-'));
  repos = await startSimulatedRepositories(join(dir, 'repositories'));
  for (const deviceId of ['rev-a', 'rev-b', 'rev-c']) {
    await repos.enroll(deviceId);
    await tagDevice(repos.director, deviceId, { add: ['site.x'], remove: [] });
  }
  await repos.director.markRevoked('rev-b', new Date());
});
afterAll(async () => {
  await repos.close();
  await rm(dir, { recursive: true, force: true });
});

describe('a device marked revoked', () => {
  it('is left out of a rollout to its hardware id or to a tag', async () => {
    const { hardwareId } = (await repos.director.inventory('rev-a')).ecus[0]!;
    const byHardware = await targetDevices(repos.director, { hardwareId });
    expect(byHardware).toContain('rev-a');
    expect(byHardware).not.toContain('rev-b');
    expect((await targetDevices(repos.director, { tag: 'site.x' })).sort()).toEqual(['rev-a', 'rev-c']);
  });

  it('refuses a rollout that lists it, with DEVICE_REVOKED naming it', async () => {
    await expect(targetDevices(repos.director, { devices: ['rev-a', 'rev-b'] })).rejects.toThrowWithCode(
      'DEVICE_REVOKED',
    );
    await expect(targetDevices(repos.director, { devices: ['rev-b'] })).rejects.toThrow(
      'device rev-b was revoked',
    );
  });

  it('is in rollouts again once registered with a new identity (devices provision --force)', async () => {
    await repos.enroll('rev-c');
    await repos.director.markRevoked('rev-c', new Date());
    expect(await targetDevices(repos.director, { tag: 'site.x' })).toEqual(['rev-a']);
    await repos.enroll('rev-c'); // registers it again
    expect(await repos.director.revokedAmong(['rev-a', 'rev-b', 'rev-c'])).toEqual(['rev-b']);
  });
});
