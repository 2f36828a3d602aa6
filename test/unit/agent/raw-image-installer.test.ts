import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RawImageInstaller } from '../../../agent/index.ts';
import {
  abImageDevice,
  rootfsImage,
  slotSha256,
  type AbImageDevice,
  type BootloaderKind,
} from '../../helpers/ab-image-device.ts';
import { shellCheck, startAgentRig, telemetryOf, type AgentRig } from '../../helpers/agent-rig.ts';
import { tool } from '../../helpers/device-tools.ts';
import { tearNewestUBootCopy } from '../../helpers/uboot-bootloader.ts';

let rig: AgentRig;
let device: AbImageDevice;
let hardware: string;
afterEach(async () => {
  await rig?.close();
  await rm(hardware, { recursive: true, force: true });
});

const phasesOf = (telemetry: { phase: string }[]) => telemetry.map((t) => t.phase);
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A device powered on in slot a, its agent with the raw image installer; a health check that passes unless told. */
async function startImageDevice(kind: BootloaderKind) {
  hardware = await mkdtemp(join(tmpdir(), 'uproll-ab-image-'));
  device = await abImageDevice(hardware, kind);
  rig = await startAgentRig({
    installer: ({ dataDir }) => new RawImageInstaller(dataDir, { slots: device.slots }),
    healthCheck: shellCheck('test ! -e fail-health'),
    bootloader: device.bootloader,
  });
  return hardware;
}

/** Publishes a revision whose rootfs is a real ext4 image, plus `extra` files beside it. */
async function releaseImage(dir: string, name: string, extra: { path: string; bytes: Uint8Array }[] = []) {
  const image = await rootfsImage(dir, name, { 'etc/os-release': `ID=uproll-test\nVERSION_ID=${name}\n` });
  await rig.release(name, [{ path: 'rootfs.ext4', bytes: image, image: 'rootfs' }, ...extra]);
  return image;
}

/** The agent starts again after a boot (or a crash) and settles what it finds. */
async function restart() {
  const manager = rig.restart();
  const outcome = await manager.recover();
  await manager.idle();
  return outcome;
}

// Generous time limits: each boot of real GRUB (grub-emu) and each mkfs takes most of a second on a loaded machine.
describe.each<BootloaderKind>(['uboot', 'grub'])(
  'a rootfs image update on %s',
  (kind) => {
    it('is written into the inactive slot, read back, armed for one trial boot, and the agent asks for a reboot', async () => {
      const dir = await startImageDevice(kind);
      const image = await releaseImage(dir, '1.0');
      const { telemetry } = await rig.update('1.0', 'r1');
      expect(phasesOf(telemetry)).toEqual(['downloaded', 'verified', 'installed']);
      expect(telemetry[2]).toMatchObject({ deployment: 'b' });
      expect(await slotSha256(device.slots.b, image.byteLength)).toBe(sha256(image));
      await tool('e2fsck', ['-fn', device.slots.b]); // the slot holds a whole filesystem
      expect(await device.env.read()).toEqual({ next: 'b', trialNotStarted: 'b' });
      expect(await rig.manager.bootloaderStatus()).toEqual({
        backend: kind,
        booted: 'a',
        next: 'b',
        trialNotStarted: 'b',
      });
      expect(device.reboots).toHaveLength(1);
      expect(await rig.manager.boot.read()).toMatchObject({
        active: { revision: '1.0', deployment: 'b' },
        trial: true,
      });
    });

    it('commits once the bootloader booted the new slot and the health check passes; it stays there', async () => {
      const dir = await startImageDevice(kind);
      await releaseImage(dir, '1.0');
      await rig.update('1.0', 'r1');
      expect(await device.boot()).toBe('b');
      expect(await restart()).toBe('committed');
      expect(phasesOf(await telemetryOf(rig.manager, 'r1'))).toEqual([
        'downloaded',
        'verified',
        'installed',
        'healthy',
        'committed',
      ]);
      expect(await device.env.read()).toEqual({ next: 'b', trialNotStarted: undefined });
      for (let start = 0; start < 3; start++) {
        expect(await device.boot()).toBe('b');
        expect(await restart()).toBe('idle');
      }
      expect(device.reboots).toHaveLength(1);
    });

    it('is rolled back with BOOT_FAILED when the new slot never boots to a commit: the bootloader fell back alone', async () => {
      const dir = await startImageDevice(kind);
      await releaseImage(dir, '1.0');
      await rig.update('1.0', 'r1');
      await device.boot();
      await restart();
      await releaseImage(dir, '2.0');
      await rig.update('2.0', 'r2');
      expect(await device.boot()).toBe('a'); // the trial boot: its kernel never gets to start the agent
      expect(await device.boot()).toBe('b'); // the bootloader falls back by itself
      expect(await restart()).toBe('rolled_back');
      expect((await telemetryOf(rig.manager, 'r2')).at(-1)).toMatchObject({
        phase: 'rolled_back',
        deployment: 'b',
        error: { code: 'BOOT_FAILED', message: expect.stringContaining('fell back to slot b') as string },
      });
      expect(await rig.manager.boot.read()).toMatchObject({
        active: { revision: '1.0', deployment: 'b' },
        trial: false,
      });
      expect(await device.boot()).toBe('b');
      expect(await restart()).toBe('idle');
    });

    it('goes back to the old slot by a reboot when the health check fails in the new one', async () => {
      const dir = await startImageDevice(kind);
      await releaseImage(dir, '1.0');
      await rig.update('1.0', 'r1');
      await device.boot();
      await restart();
      await releaseImage(dir, '2.0', [{ path: 'fail-health', bytes: Buffer.from('bad') }]);
      await rig.update('2.0', 'r2');
      expect(await device.boot()).toBe('a');
      expect(await restart()).toBe('rolled_back');
      expect((await telemetryOf(rig.manager, 'r2')).at(-1)).toMatchObject({
        phase: 'rolled_back',
        error: { code: 'HEALTH_CHECK_FAILED' },
      });
      expect(device.reboots).toHaveLength(3); // 1.0, 2.0, and back to 1.0
      expect(await device.boot()).toBe('b');
      expect(await restart()).toBe('idle');
      expect(await rig.manager.boot.read()).toMatchObject({ active: { revision: '1.0', deployment: 'b' } });
    });

    it('keeps no copy of an image once it is in its slot; reinstalling it from history downloads it again', async () => {
      const dir = await startImageDevice(kind);
      const image = await releaseImage(dir, '1.0', [{ path: 'etc/app.conf', bytes: Buffer.from('x = 1') }]);
      await rig.update('1.0', 'r1');
      expect(await device.boot()).toBe('b');
      expect(await restart()).toBe('committed');
      const held = await rig.manager.objects.present();
      expect(held.has(sha256(image))).toBe(false);
      expect(held.has(sha256(Buffer.from('x = 1')))).toBe(true);
      await releaseImage(dir, '2.0');
      await rig.update('2.0', 'r2');
      expect(await device.boot()).toBe('a');
      expect(await restart()).toBe('committed');

      rig.proxy.reset();
      await rig.manager.installFromHistory('1.0', 'again');
      await rig.manager.idle();
      expect(rig.proxy.stats.objectBytes).toBe(image.byteLength);
      expect(await slotSha256(device.slots.b, image.byteLength)).toBe(sha256(image));
    });

    it('reinstalls the revision it runs without fetching or writing its image again', async () => {
      const dir = await startImageDevice(kind);
      await releaseImage(dir, '1.0');
      await rig.update('1.0', 'r1');
      expect(await device.boot()).toBe('b');
      expect(await restart()).toBe('committed');
      const slotA = await slotSha256(device.slots.a, 4096);

      rig.proxy.reset();
      await rig.manager.installFromHistory('1.0', 'again');
      await rig.manager.idle();
      expect(rig.proxy.stats.objectBytes).toBe(0);
      expect(await slotSha256(device.slots.a, 4096)).toBe(slotA);
    });

    it('goes back to the previous slot by a reboot on a rollback command', async () => {
      const dir = await startImageDevice(kind);
      for (const [name, slot] of [
        ['1.0', 'b'],
        ['2.0', 'a'],
      ] as const) {
        await releaseImage(dir, name);
        await rig.update(name, `r-${name}`);
        expect(await device.boot()).toBe(slot);
        expect(await restart()).toBe('committed');
      }
      await rig.manager.rollbackNow();
      expect(await device.env.read()).toEqual({ next: 'b', trialNotStarted: undefined });
      expect(device.reboots).toHaveLength(3);
      expect(await device.boot()).toBe('b');
      expect(await restart()).toBe('idle');
      expect(await rig.manager.boot.read()).toMatchObject({ active: { revision: '1.0', deployment: 'b' } });
    });

    it('asks for the reboot again when the agent restarts before it happened', async () => {
      const dir = await startImageDevice(kind);
      await releaseImage(dir, '1.0');
      await rig.update('1.0', 'r1');
      expect(await restart()).toBe('rebooting');
      expect(device.reboots).toHaveLength(2);
      expect(await device.boot()).toBe('b');
      expect(await restart()).toBe('committed');
    });
  },
  60_000,
);

describe('the raw image installer', () => {
  it('refuses an image larger than the slot (INSTALL_FAILED) and arms nothing', async () => {
    await startImageDevice('uboot');
    await rig.release('huge', [
      { path: 'rootfs.ext4', bytes: Buffer.alloc(9 * 1024 * 1024, 1), image: 'rootfs' },
    ]);
    const { telemetry } = await rig.update('huge');
    expect(telemetry.at(-1)).toMatchObject({ phase: 'failed', error: { code: 'INSTALL_FAILED' } });
    expect(await device.env.read()).toEqual({ next: 'a', trialNotStarted: undefined });
    expect(device.reboots).toEqual([]);
  });

  it('refuses a revision without a rootfs image', async () => {
    await startImageDevice('uboot');
    await rig.release('files-only', [{ path: 'etc/app.conf', bytes: Buffer.from('x') }]);
    const { telemetry } = await rig.update('files-only');
    expect(telemetry.at(-1)).toMatchObject({ phase: 'failed', error: { code: 'INSTALL_FAILED' } });
  });

  it('never writes the slot that booted, even when its own record names the other one as running', async () => {
    const dir = await startImageDevice('uboot');
    await releaseImage(dir, '1.0');
    await rig.update('1.0', 'r1');
    await device.boot();
    await restart(); // 1.0 committed in slot b
    // A power cut between arming a trial of slot a and recording it; the device powers on in slot a.
    await device.env.armTrial('a');
    expect(await device.boot()).toBe('a');
    const before = await slotSha256(device.slots.a, 2 * 1024 * 1024);
    await releaseImage(dir, '2.0');
    const { telemetry } = await rig.update('2.0', 'r2');
    expect(telemetry.at(-1)).toMatchObject({ phase: 'failed', error: { code: 'INSTALL_FAILED' } });
    expect(await slotSha256(device.slots.a, 2 * 1024 * 1024)).toBe(before);
    // At its next start the agent sends the device back to its committed slot.
    expect(await restart()).toBe('rebooting');
    expect(await device.env.read()).toEqual({ next: 'b', trialNotStarted: undefined });
    expect(await device.boot()).toBe('b');
    expect(await restart()).toBe('idle');
  });

  describe('when a torn write left a grubenv nothing can read', () => {
    it('recreates it at start, committed to the slot that booted, says so, and a later update works', async () => {
      const dir = await startImageDevice('grub');
      await releaseImage(dir, '1.0');
      await rig.update('1.0', 'r1');
      expect(await device.boot()).toBe('b');
      expect(await restart()).toBe('committed');
      // Power lost while the block was rewritten in place: one sector of zeroes, the rest never written.
      await writeFile(device.files['grubenv']!, Buffer.alloc(512));
      await expect(device.env.read()).rejects.toThrowWithCode('BOOT_CONTROL_FAILED');

      const logged: string[] = [];
      const manager = rig.restart({ log: (line) => logged.push(line) });
      expect(await manager.recover()).toBe('idle');
      expect(logged).toEqual([
        expect.stringMatching(/boot environment repaired: .*recreated it to boot slot b/),
      ]);
      expect(manager.bootEnvRepaired?.message).toMatch(/was damaged .*slot b, committed, no trial/);
      expect(await device.env.read()).toEqual({ next: 'b', trialNotStarted: undefined });
      expect(await device.boot()).toBe('b');

      await releaseImage(dir, '2.0');
      await rig.update('2.0', 'r2');
      expect(await device.boot()).toBe('a');
      expect(await restart()).toBe('committed');
      expect(await rig.manager.boot.read()).toMatchObject({ active: { revision: '2.0', deployment: 'a' } });
    });
  });

  it('after a torn write of the arming, the old slot boots and the trial is rolled back as BOOT_FAILED', async () => {
    const dir = await startImageDevice('uboot');
    await releaseImage(dir, '1.0');
    await rig.update('1.0', 'r1');
    await tearNewestUBootCopy([device.files['env0']!, device.files['env1']!]);
    expect(await device.boot()).toBe('a');
    expect(await restart()).toBe('rolled_back');
    expect((await telemetryOf(rig.manager, 'r1')).at(-1)).toMatchObject({ error: { code: 'BOOT_FAILED' } });
    expect(await rig.manager.boot.read()).toMatchObject({ active: null, trial: false });
  });
});
