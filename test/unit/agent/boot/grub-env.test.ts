import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GrubEnv } from '../../../../agent/index.ts';
import { parseEnvLines } from '../../../../agent/boot/run-tool.ts';
import { tool } from '../../../helpers/device-tools.ts';
import { bootGrubEmu } from '../../../helpers/grub-emu.ts';

let dir: string;
let grubenv: string;
let env: GrubEnv;
const vars = async () =>
  Object.fromEntries(parseEnvLines((await tool('grub-editenv', [grubenv, 'list'])).stdout));

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uproll-grub-'));
  grubenv = join(dir, 'grubenv');
  await tool('grub-editenv', [grubenv, 'create']);
  env = new GrubEnv({ file: grubenv });
});
afterEach(() => rm(dir, { recursive: true, force: true }));

// Each boot of real GRUB (grub-emu) takes most of a second on a loaded machine: generous time limits.
describe('the GRUB boot environment (grubenv, RAUC convention), booted by real GRUB (grub-emu)', () => {
  it('boots slot a from an empty grubenv', async () => {
    expect(await env.read()).toEqual({ next: 'a', trialNotStarted: undefined });
    expect(await bootGrubEmu(grubenv)).toBe('a');
  });

  it('arms a trial in one grub-editenv write: order and both counters', async () => {
    await env.armTrial('b');
    expect(await vars()).toEqual({
      BOOT_ORDER: 'B A',
      BOOT_B_LEFT: '1',
      BOOT_A_LEFT: '3',
      uproll_trial: 'B',
    });
    expect(await env.read()).toEqual({ next: 'b', trialNotStarted: 'b' });
  });

  describe('when a trial slot never commits', () => {
    it('GRUB boots it once, then falls back to the old slot by itself', async () => {
      await env.commit('a');
      await env.armTrial('b');
      expect(await bootGrubEmu(grubenv)).toBe('b');
      expect(await env.read()).toEqual({ next: 'a', trialNotStarted: undefined });
      expect(await bootGrubEmu(grubenv)).toBe('a');
      expect(await bootGrubEmu(grubenv)).toBe('a');
    });
  });

  describe('when the trial commits', () => {
    it('keeps booting the new slot as long as each good start marks it good again', async () => {
      await env.armTrial('b');
      expect(await bootGrubEmu(grubenv)).toBe('b');
      await env.commit('b');
      for (let start = 0; start < 4; start++) {
        expect(await bootGrubEmu(grubenv)).toBe('b');
        await env.commit('b');
      }
      expect(await vars()).toMatchObject({ BOOT_ORDER: 'B A', BOOT_B_LEFT: '3', uproll_trial: '' });
    });
  });

  describe('when a torn write damaged the block (GRUB keeps one copy, written in place)', () => {
    const tear = async (bytes: Buffer) => writeFile(grubenv, bytes);

    it.each([
      ['lost its signature', () => Buffer.alloc(1024, 0xa5)],
      ['was cut short', () => Buffer.from('# GRUB Environment Block\nBOOT_ORDER=B A\nBOOT_B_LE')],
      ['was truncated to nothing', () => Buffer.alloc(0)],
    ])('that %s, it is recreated to boot the slot that booted, committed', async (_, damaged) => {
      await env.armTrial('b');
      await tear(damaged());
      expect(await env.repair('b')).toMatch(
        /grubenv .* was damaged .*recreated it to boot slot b, committed/,
      );
      expect(await vars()).toEqual({
        BOOT_ORDER: 'B A',
        BOOT_B_LEFT: '3',
        BOOT_A_LEFT: '3',
        uproll_trial: '',
      });
      expect(await env.read()).toEqual({ next: 'b', trialNotStarted: undefined });
      expect(await bootGrubEmu(grubenv)).toBe('b');
    });

    it('grub-editenv itself cannot read such a block', async () => {
      await tear(Buffer.alloc(1024, 0xa5));
      await expect(env.read()).rejects.toThrowWithCode('BOOT_CONTROL_FAILED');
    });
  });

  it('repairs nothing in a sound grubenv, and writes nothing', async () => {
    await env.armTrial('b');
    const before = await readFile(grubenv);
    expect(await env.repair('a')).toBeUndefined();
    expect(await readFile(grubenv)).toEqual(before);
    expect(await env.read()).toEqual({ next: 'b', trialNotStarted: 'b' });
  });

  it('refuses a grubenv whose order it does not understand (BOOT_CONTROL_FAILED)', async () => {
    await tool('grub-editenv', [grubenv, 'set', 'BOOT_ORDER=C A']);
    await expect(env.read()).rejects.toThrowWithCode('BOOT_CONTROL_FAILED');
  });
}, 60_000);
