import { describe, expect, it } from 'vitest';
import { bootVerdict } from '../../../../agent/index.ts';

describe('what a start means on a device whose bootloader switches slots', () => {
  it.each([
    [
      'the trial slot booted',
      { recorded: 'b', trial: true, booted: 'b', trialNotStarted: undefined },
      { action: 'check-trial' },
    ],
    [
      'the trial is armed and not started',
      { recorded: 'b', trial: true, booted: 'a', trialNotStarted: 'b' },
      { action: 'reboot-into-trial' },
    ],
    [
      'the bootloader fell back from the trial',
      { recorded: 'b', trial: true, booted: 'a', trialNotStarted: undefined },
      { action: 'trial-failed' },
    ],
    [
      'the committed slot booted',
      { recorded: 'b', trial: false, booted: 'b', trialNotStarted: undefined },
      { action: 'mark-good', slot: 'b' },
    ],
    [
      'the other slot booted with no trial on record',
      { recorded: 'b', trial: false, booted: 'a', trialNotStarted: undefined },
      { action: 'reboot-into-committed', slot: 'b' },
    ],
    [
      'nothing was installed yet',
      { recorded: undefined, trial: false, booted: 'a', trialNotStarted: undefined },
      { action: 'none' },
    ],
  ] as const)('when %s', (_when, state, verdict) => {
    expect(bootVerdict(state)).toEqual(verdict);
  });
});
