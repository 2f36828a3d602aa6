/** The two A/B slots, by the agent's names (the installer's deployments). */
export type Slot = 'a' | 'b';
export const SLOTS: readonly Slot[] = ['a', 'b'];

export function otherSlot(slot: Slot): Slot {
  return slot === 'a' ? 'b' : 'a';
}

export function isSlot(value: unknown): value is Slot {
  return value === 'a' || value === 'b';
}

/** What a boot environment says the bootloader will do at the next boot. */
export interface BootEnvState {
  /** The slot the bootloader boots next (the trial slot while a trial is armed). */
  next: Slot | undefined;
  /**
   * A trial slot the bootloader has not started to boot yet: the agent
   * armed it and the reboot is still to come. Undefined once the
   * bootloader has counted a boot of it (or fell back from it).
   */
  trialNotStarted: Slot | undefined;
}

/**
 * A bootloader's environment as the agent changes it. Every change is one
 * write of the environment, so a power cut leaves it before or after the
 * change, never between two variables. The bootloader, not the agent,
 * counts the trial boots and falls back to the other slot when a trial
 * never commits (see `device/boot/` for the bootloader side).
 */
export interface BootBackend {
  readonly kind: 'uboot' | 'grub';
  /** Where the environment lives (for messages). */
  readonly where: string;
  read(): Promise<BootEnvState>;
  /** Boots `slot` on trial from the next boot; if it never commits, the bootloader falls back by itself. */
  armTrial(slot: Slot): Promise<void>;
  /**
   * Makes `slot` the committed default and clears any trial: after a
   * passing trial, to go back to a slot, or to mark a good boot again.
   * Writes nothing when the environment says so already.
   */
  commit(slot: Slot): Promise<void>;
  /**
   * At start, before anything reads the environment: when it is damaged
   * past reading (a torn write), recreates it booting `booted` committed
   * with no trial, and returns what it did; undefined when it was sound.
   * What cannot be recreated safely is refused (BOOT_ENV_DAMAGED, the
   * message names the fix).
   */
  repair(booted: Slot): Promise<string | undefined>;
}

/**
 * What an installer that switches by rebooting needs: the boot
 * environment, which slot the running system booted from (learnt from the
 * bootloader, never from the agent's own record), and a way to reboot.
 */
export interface Bootloader {
  env: BootBackend;
  bootedSlot(): Promise<Slot>;
  /** Asks the system to reboot (the agent is stopped by it, or keeps running until it is). */
  reboot(): Promise<void>;
}
