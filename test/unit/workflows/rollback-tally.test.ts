import { describe, expect, it } from 'vitest';
import type { RollbackDeviceResult, RollbackOutcome } from '../../../workflows/contracts.ts';
import { LISTED_DEVICES, RollbackTally } from '../../../workflows/rollback-tally.ts';

function result(n: number, outcome: RollbackOutcome): RollbackDeviceResult {
  return { deviceId: `device-${String(n).padStart(5, '0')}`, outcome, from: 'bad', previous: 'good' };
}

describe('the tally of a rollback', () => {
  it('counts every outcome and lists every result while they fit, by device id', () => {
    const tally = new RollbackTally();
    tally.add(result(2, 'unchanged'));
    tally.add(result(1, 'rolled_back'));
    expect(tally.counts).toEqual({ rolled_back: 1, unchanged: 1, busy: 0, failed: 0 });
    expect(tally.listed().map(({ deviceId }) => deviceId)).toEqual(['device-00001', 'device-00002']);
    expect(tally.unlisted).toBe(0);
  });

  describe('when more devices have an outcome than it lists', () => {
    const tally = new RollbackTally();
    for (let n = 0; n < LISTED_DEVICES + 50; n++) tally.add(result(n, 'rolled_back'));
    tally.add(result(100_000, 'failed'));
    tally.add(result(100_001, 'busy'));

    it('keeps the devices not rolled back in its list, in place of rolled back ones, and counts the rest', () => {
      expect(tally.listed()).toHaveLength(LISTED_DEVICES);
      expect(tally.listed().filter(({ outcome }) => outcome !== 'rolled_back')).toHaveLength(2);
      expect(tally.unlisted).toBe(52);
      expect(tally.counts).toEqual({ rolled_back: LISTED_DEVICES + 50, unchanged: 0, busy: 1, failed: 1 });
    });

    it('hands the next run the same counts and list, with the cursor', () => {
      const cursor = { end: 42, offset: 152 };
      const carried = tally.carry(cursor);
      const next = new RollbackTally(carried);
      expect(carried.cursor).toEqual(cursor);
      expect(next.counts).toEqual(tally.counts);
      expect(next.listed()).toEqual(tally.listed());
      expect(next.unlisted).toBe(tally.unlisted);
      // Small whatever the fleet: the list is bounded.
      expect(JSON.stringify(carried).length).toBeLessThan(LISTED_DEVICES * 200);
    });
  });
});
