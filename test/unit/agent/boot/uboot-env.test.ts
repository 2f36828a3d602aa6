import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootedSlotFromCmdline, UBootEnv } from '../../../../agent/index.ts';
import { tool } from '../../../helpers/device-tools.ts';
import {
  bootUBoot,
  makeUBootEnv,
  printUBootEnv,
  tearNewestUBootCopy,
} from '../../../helpers/uboot-bootloader.ts';

let dir: string;
let config: string;
let copies: string[];
let env: UBootEnv;
let cmdline: string;
const devices = { a: '/dev/test-slot-a', b: '/dev/test-slot-b' };
/** One boot by U-Boot (as the shipped env.txt and boot.cmd make it behave), then which slot the kernel was told. */
const boot = async () => {
  const slot = await bootUBoot(config, cmdline);
  expect(await bootedSlotFromCmdline({ path: cmdline })).toBe(slot);
  return slot;
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uproll-uboot-'));
  ({ config, copies } = await makeUBootEnv(dir, devices));
  env = new UBootEnv({ config });
  cmdline = join(dir, 'cmdline');
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('the U-Boot boot environment (redundant, libubootenv)', () => {
  it('starts on slot a with no trial, as the shipped default environment says', async () => {
    expect(await env.read()).toEqual({ next: 'a', trialNotStarted: undefined });
    expect(await boot()).toBe('a');
  });

  it('arms a trial in one write: slot, upgrade_available, bootcount and bootlimit together', async () => {
    await env.armTrial('b');
    expect(Object.fromEntries(await printUBootEnv(config))).toMatchObject({
      uproll_slot: 'b',
      upgrade_available: '1',
      bootcount: '0',
      bootlimit: '1',
    });
    expect(await env.read()).toEqual({ next: 'b', trialNotStarted: 'b' });
  });

  describe('when a trial slot never commits', () => {
    it('U-Boot boots it once, then falls back to the old slot by itself and stays there', async () => {
      await env.armTrial('b');
      expect(await boot()).toBe('b');
      expect(await env.read()).toEqual({ next: 'b', trialNotStarted: undefined }); // the boot was counted
      expect(await boot()).toBe('a');
      expect(await boot()).toBe('a');
      expect(Object.fromEntries(await printUBootEnv(config))).toMatchObject({
        uproll_slot: 'a',
        upgrade_available: '0',
      });
    });

    it('gives it as many boots as trialBoots says', async () => {
      await new UBootEnv({ config, trialBoots: 2 }).armTrial('b');
      expect([await boot(), await boot(), await boot()]).toEqual(['b', 'b', 'a']);
    });
  });

  describe('when the trial commits', () => {
    it('keeps booting the new slot, and a second commit writes nothing', async () => {
      await env.armTrial('b');
      expect(await boot()).toBe('b');
      await env.commit('b');
      const [before] = await Promise.all(copies.map((copy) => tool('sha256sum', [copy])));
      await env.commit('b');
      const [after] = await Promise.all(copies.map((copy) => tool('sha256sum', [copy])));
      expect(after?.stdout).toBe(before?.stdout);
      expect([await boot(), await boot()]).toEqual(['b', 'b']);
    });
  });

  describe('when a write is torn (the newest copy is corrupt)', () => {
    it('reads the copy before it: a trial whose arming was torn was never armed', async () => {
      await env.commit('a');
      await env.armTrial('b');
      await tearNewestUBootCopy(copies);
      expect(await env.read()).toEqual({ next: 'a', trialNotStarted: undefined });
      expect(await boot()).toBe('a');
    });

    it('refuses to guess when both copies are bad (BOOT_CONTROL_FAILED)', async () => {
      for (const copy of copies) await writeFile(copy, Buffer.alloc(0x4000, 0xa5));
      await expect(env.read()).rejects.toThrowWithCode('BOOT_CONTROL_FAILED');
    });

    it('has nothing to repair: the older copy still reads', async () => {
      await env.armTrial('b');
      await tearNewestUBootCopy(copies);
      expect(await env.repair('a')).toBeUndefined();
      expect(await env.read()).toEqual({ next: 'a', trialNotStarted: undefined });
    });

    it('does not recreate both bad copies: BOOT_ENV_DAMAGED names the fix and the booted slot', async () => {
      for (const copy of copies) await writeFile(copy, Buffer.alloc(0x4000, 0xa5));
      const repair = env.repair('b');
      await expect(repair).rejects.toThrowWithCode('BOOT_ENV_DAMAGED');
      await expect(repair).rejects.toThrow(/env\.txt with uproll_slot=b .*mkenvimage -r/);
    });
  });

  it('refuses an environment whose slot variable it does not understand', async () => {
    await writeFile(join(dir, 'odd'), 'uproll_slot=c\n');
    await tool('fw_setenv', ['-c', config, '-s', join(dir, 'odd')]);
    await expect(env.read()).rejects.toThrow(/uproll_slot/);
  });

  it('says so when fw_setenv stores nothing although it exits 0', async () => {
    const silent = join(dir, 'fw_setenv');
    await writeFile(silent, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    await expect(new UBootEnv({ config, fwSetenv: silent }).armTrial('b')).rejects.toThrow(
      /fw_setenv exited 0 but did not store uproll_slot=b/,
    );
  });
});
