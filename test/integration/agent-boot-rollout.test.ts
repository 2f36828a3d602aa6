import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentConfigInput } from '../../agent/index.ts';
import type { RolloutPolicyInput } from '../../core/index.ts';
import { startRollout } from '../../services/temporal/index.ts';
import { rolloutProgressQuery } from '../../workflows/rollout-messages.ts';
import {
  abImageDevice,
  rootfsImage,
  type AbImageDevice,
  type BootloaderKind,
} from '../helpers/ab-image-device.ts';
import { startAgentProcess, type AgentProcess } from '../helpers/agent-process.ts';
import { eventually } from '../helpers/eventually.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

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

/**
 * A real uproll-agent process on a device with file-backed A/B slots and a
 * real boot environment, configured by a --config file: raw image
 * installer, the bootloader's environment, the kernel command line the
 * test's bootloader step writes, and a reboot command that records the call.
 */
async function imageDevice(kind: BootloaderKind) {
  const deviceId = uniqueId(`boot-${kind}`);
  const dir = join(workDir, deviceId);
  const { seed } = await h.provisionDevice(deviceId);
  const bundle = join(dir, 'bundle');
  await h.repos.enroll(deviceId, { nats: { servers: h.addresses.nats, seed }, bundleDir: bundle });
  await mkdir(join(dir, 'hw'), { recursive: true });
  const hardware: AbImageDevice = await abImageDevice(join(dir, 'hw'), kind);
  const reboots = join(dir, 'reboots');
  await writeFile(reboots, '');
  const config: AgentConfigInput = {
    bundle,
    dataDir: join(dir, 'data'),
    installer: 'image',
    slots: hardware.slots,
    boot:
      kind === 'uboot'
        ? { backend: 'uboot', fwEnvConfig: hardware.files['config']! }
        : { backend: 'grub', grubenv: hardware.files['grubenv']! },
    bootedSlot: { source: 'cmdline', path: hardware.cmdline },
    rebootCommand: ['sh', '-c', `echo reboot >> ${reboots}`],
    healthCheck: { command: ['sh', '-c', 'test ! -e fail-health'], timeoutMs: 10_000 },
  };
  const configFile = join(dir, 'agent.json');
  await writeFile(configFile, JSON.stringify(config));
  let agent: AgentProcess = await startAgentProcess(['--config', configFile]);
  const rebootsAsked = async () => (await readFile(reboots, 'utf8')).split('\n').filter(Boolean).length;
  return {
    deviceId,
    hardware,
    rebootsAsked,
    /** Waits for the agent to ask for its `n`th reboot, then: the agent stops, the bootloader boots, the agent starts. */
    async rebootWhenAsked(n: number, boots = 1): Promise<string[]> {
      await eventually(
        `the agent on ${deviceId} to ask for reboot ${n}`,
        async () => (await rebootsAsked()) >= n,
      );
      await agent.stop();
      const slots: string[] = [];
      for (let boot = 0; boot < boots; boot++) slots.push(await hardware.boot());
      agent = await startAgentProcess(['--config', configFile]);
      return slots;
    },
    stop: () => agent.stop(),
  };
}

async function releaseImage(name: string) {
  const image = await rootfsImage(workDir, name, {
    'etc/os-release': `ID=uproll-test\nVERSION_ID=${name}\n`,
  });
  await h.repos.publish(name, [{ path: 'rootfs.ext4', bytes: image, image: 'rootfs' }], {
    releaseCounter: 1,
  });
}

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
      const device = await imageDevice(kind);
      try {
        const good = uniqueId('rootfs-good');
        await releaseImage(good);
        const first = await startRollout(h.client, {
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

        const broken = uniqueId('rootfs-never-boots');
        await releaseImage(broken);
        const rolloutId = uniqueId('ro-boot');
        const second = await startRollout(h.client, {
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
