import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../agent/index.ts';
import type { Heartbeat } from '../../core/index.ts';
import { onJson } from '../../services/nats/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';
import { imageAgentDevice, releaseRootfs } from './image-agent-device.ts';

let h: Harness;
let workDir: string;
beforeAll(async () => {
  h = await startHarness();
  await h.startWorker();
  workDir = await mkdtemp(join(tmpdir(), 'uproll-grubenv-repair-'));
}, 120_000);
afterAll(async () => {
  await h?.close();
  await rm(workDir, { recursive: true, force: true });
});

describe('a real agent on a GRUB machine whose grubenv a power cut tore', () => {
  it('starts, recreates the grubenv for the slot that booted, says so, and a rollout then commits through a reboot', async () => {
    const device = await imageAgentDevice(h, workDir, 'grub');
    // The block rewritten in place when the power went: one sector of zeroes, the rest never written.
    await writeFile(device.hardware.files['grubenv']!, Buffer.alloc(512));
    const beats: Heartbeat[] = [];
    const heartbeats = h.nc.subscribe(`uproll.dev.${device.deviceId}.heartbeat`, {
      callback: onJson<Heartbeat>((beat) => beats.push(beat)),
    });
    try {
      await device.start();
      expect(device.agent.stderr).toContainEqual(
        expect.stringMatching(
          /boot environment repaired: .*recreated it to boot slot a, committed, no trial/,
        ),
      );
      const status = await new ControlClient(join(device.dataDir, 'control.sock')).status();
      expect(status.bootEnvRepaired?.message).toMatch(/was damaged \(no GRUB environment block signature\)/);
      expect(status.bootloader).toEqual({ backend: 'grub', booted: 'a', next: 'a', trialNotStarted: null });
      const beat = await eventually('a heartbeat that tells of the repair', () =>
        beats.find((b) => b.bootEnvRepaired),
      );
      expect(beat.bootEnvRepaired).toEqual(status.bootEnvRepaired);

      const revision = uniqueId('rootfs-after-repair');
      await releaseRootfs(h, workDir, revision);
      const rollout = await h.startRollout({
        rolloutId: uniqueId('ro-repair'),
        revision,
        target: { devices: [device.deviceId] },
        policy: { canary: 1, waves: { percentages: [100] }, gate: { minSample: 1, maxFailureRate: 0 } },
      });
      expect(await device.rebootWhenAsked(1)).toEqual(['b']);
      expect(await rollout.result()).toMatchObject({ status: 'completed', counts: { committed: 1 } });
    } finally {
      heartbeats.unsubscribe();
      await device.stop();
    }
  }, 120_000);
});
