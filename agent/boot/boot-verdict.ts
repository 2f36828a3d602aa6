import type { Slot } from './boot-backend.ts';

/** What the agent does at start on a device whose bootloader switches slots. */
export type BootVerdict =
  /** The trial slot booted: its health check decides commit or rollback. */
  | { action: 'check-trial' }
  /** The trial is armed and the bootloader has not started it: the reboot did not happen yet. */
  | { action: 'reboot-into-trial' }
  /** The bootloader gave the trial up and booted the other slot: rolled back, BOOT_FAILED. */
  | { action: 'trial-failed' }
  /** Not the committed slot booted (no trial on record): make it the default again and reboot. */
  | { action: 'reboot-into-committed'; slot: Slot }
  /** The committed slot booted: mark it good again (GRUB counts every boot down). */
  | { action: 'mark-good'; slot: Slot }
  /** Nothing installed yet: nothing to do. */
  | { action: 'none' };

/**
 * Decides what a start means from what the bootloader says (the slot that
 * booted, a trial armed but not started) and the agent's record (the slot
 * it runs, and whether it is on trial). The bootloader's word wins: the
 * agent's record only says what it expected.
 */
export function bootVerdict(state: {
  /** The slot of the agent's active deployment, if any. */
  recorded: Slot | undefined;
  trial: boolean;
  booted: Slot;
  trialNotStarted: Slot | undefined;
}): BootVerdict {
  const { recorded, trial, booted, trialNotStarted } = state;
  if (recorded === undefined) return { action: 'none' };
  if (trial) {
    if (booted === recorded) return { action: 'check-trial' };
    return trialNotStarted === recorded ? { action: 'reboot-into-trial' } : { action: 'trial-failed' };
  }
  // A power cut between arming a trial and recording it, or a rollback whose reboot did not happen.
  if (booted !== recorded) return { action: 'reboot-into-committed', slot: recorded };
  return { action: 'mark-good', slot: booted };
}
