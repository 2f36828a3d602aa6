import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { AbSlots } from '../../../agent/index.ts';

let dir: string;
let slots: AbSlots;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uproll-slots-'));
  slots = new AbSlots(dir);
});

const content = (revision: string) => ({ revision, rolloutId: 'r1', artifact: 'rootfs.img' });

describe('A/B slots', () => {
  it('start on slot a with nothing installed', async () => {
    expect(await slots.read()).toEqual({
      active: 'a',
      trial: false,
      bootAttempts: 0,
      previous: null,
      slots: { a: null, b: null },
    });
  });

  it('write an update into the slot that is not running, emptied first', async () => {
    const first = await slots.prepareInactive();
    await writeFile(join(first.dir, 'stale'), 'left over');
    const again = await slots.prepareInactive();
    expect(again.slot).toBe('b');
    expect(await readdir(again.dir)).toEqual([]);
  });

  describe('when switched to the new slot', () => {
    it('run it on trial with the old slot kept for a rollback', async () => {
      await slots.switchTo('b', content('2'));
      expect(await slots.read()).toEqual({
        active: 'b',
        trial: true,
        bootAttempts: 0,
        previous: 'a',
        slots: { a: null, b: content('2') },
      });
    });

    it('persist the switch in one file, written whole', async () => {
      await slots.switchTo('b', content('2'));
      const onDisk = JSON.parse(await readFile(slots.bootControlPath, 'utf8')) as { active: string };
      expect(onDisk.active).toBe('b');
      expect((await readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    });
  });

  describe('when the trial passes', () => {
    it('commit the new slot', async () => {
      await slots.switchTo('b', content('2'));
      expect(await slots.commit()).toMatchObject({ active: 'b', trial: false });
    });
  });

  describe('when the trial fails', () => {
    it('go back to the previous slot', async () => {
      await slots.switchTo('b', content('2'));
      expect(await slots.rollback()).toMatchObject({ active: 'a', trial: false, previous: 'b' });
    });
  });

  describe('when the boot-control file is damaged', () => {
    it('restore the last good copy and say so', async () => {
      await slots.switchTo('b', content('2'));
      await writeFile(slots.bootControlPath, '{"active":"c"}');
      const problems: string[] = [];
      expect(await slots.read((p) => problems.push(p))).toMatchObject({ active: 'b', trial: true });
      expect(problems[0]).toContain('restored the last good boot control (slot b)');
      expect(await slots.read()).toMatchObject({ active: 'b' }); // and the file is whole again
    });

    it('refuse to guess when the copy is damaged too', async () => {
      await slots.switchTo('b', content('2'));
      await writeFile(slots.bootControlPath, '{"active":"c"}');
      await writeFile(slots.lastGoodPath, 'garbage');
      await expect(slots.read()).rejects.toThrowWithCode('INVALID_INPUT');
    });
  });
});
