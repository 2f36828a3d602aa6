import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../agent/index.ts';
import type { RolloutPolicyInput } from '../../core/index.ts';
import { rolloutProgressQuery } from '../../workflows/contracts.ts';
import type { BootloaderKind } from '../helpers/ab-image-device.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';
import { imageAgentDevice, releaseRootfs } from './image-agent-device.ts';

let h: Harness;
let workDir: string;
beforeAll(async () => {
  h = await startHarness();
  await h.startWorker();
  workDir = await mkdtemp(join(tmpdir(), 'uproll-boot-rollout-'));
}, 120_000);
afterAll(async () => {
  await h?.close();
  await rm(workDir, { recursive: true, force: true });
});

const releaseImage = (name: string) => releaseRootfs(h, workDir, name);

const onePolicy: RolloutPolicyInput = {
  canary: 1,
  waves: { percentages: [100] },
  gate: { minSample: 1, maxFailureRate: 0 },
  onBreach: 'abort',
};

describe.each<BootloaderKind>(['uboot', 'grub'])(
  'a rollout to a real agent with the %s boot backend',
  (kind) => {
    it('updates the rootfs through a reboot and commits; a trial that never boots falls back and the rollout sees BOOT_FAILED', async () => {
      const device = await imageAgentDevice(h, workDir, kind);
      await device.start();
      try {
        const good = uniqueId('rootfs-good');
        await releaseImage(good);
        const first = await h.startRollout({
          rolloutId: uniqueId('ro-boot'),
          revision: good,
          target: { devices: [device.deviceId] },
          policy: onePolicy,
        });
        expect(await device.rebootWhenAsked(1)).toEqual(['b']);
        expect(await first.result()).toMatchObject({
          status: 'completed',
          counts: { committed: 1, rolledBack: 0, failed: 0 },
        });

        const status = await new ControlClient(join(device.dataDir, 'control.sock')).status();
        expect(status).toMatchObject({
          installer: 'image',
          bootloader: { backend: kind, booted: 'b', next: 'b', trialNotStarted: null },
        });

        const broken = uniqueId('rootfs-never-boots');
        await releaseImage(broken);
        const rolloutId = uniqueId('ro-boot');
        const second = await h.startRollout({
          rolloutId,
          revision: broken,
          target: { devices: [device.deviceId] },
          policy: onePolicy,
        });
        // The trial boot of slot a never reaches the agent; the next boot, the bootloader falls back to b.
        expect(await device.rebootWhenAsked(2, 2)).toEqual(['a', 'b']);
        expect(await second.result()).toMatchObject({
          status: 'aborted',
          counts: { committed: 0, rolledBack: 1, failed: 0 },
        });
        const progress = await second.query(rolloutProgressQuery);
        expect(progress.failures.map((f) => [f.deviceId, f.outcome, f.reason.code])).toEqual([
          [device.deviceId, 'rolled_back', 'BOOT_FAILED'],
        ]);
        expect(await device.rebootsAsked()).toBe(2);
      } finally {
        await device.stop();
      }
    });
  },
);
