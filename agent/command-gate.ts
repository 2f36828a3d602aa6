/**
 * What holds the update manager: an update (`accepting` while its command is
 * checked, `updating` once it runs), or a command that changes the device's
 * state in one go.
 */
export type Holder =
  | { kind: 'accepting' | 'updating'; rolloutId: string }
  | { kind: 'commit' | 'rollback' | 'recovery' | 'lookup' };

/** A hold on the update manager, from {@link CommandGate.tryReserve}. */
export interface Reservation {
  readonly holder: Holder;
  /** Frees the manager if this reservation still holds it; later calls do nothing. */
  release(): void;
  /** Hands the hold to `holder` with no moment between where the manager is free; this one then holds nothing. */
  passTo(holder: Holder): Reservation;
}

/**
 * One command at a time in the update manager. A command reserves the manager
 * synchronously, before its first `await`: the control socket serves its
 * clients concurrently, so a check for "idle" followed by an await and then
 * the act would let two commands arriving together both pass it.
 */
export class CommandGate {
  #held: Reservation | undefined;

  /** What holds the manager now, if anything. */
  get holder(): Holder | undefined {
    return this.#held?.holder;
  }

  /** Reserves the manager for `holder` at once; undefined when something holds it already. */
  tryReserve(holder: Holder): Reservation | undefined {
    if (this.#held) return undefined;
    return (this.#held = this.#grant(holder));
  }

  /** Frees the manager early if the update of `rolloutId` holds it (its outcome is told; others may act). */
  endUpdate(rolloutId: string): void {
    const holder = this.#held?.holder;
    if (holder?.kind === 'updating' && holder.rolloutId === rolloutId) this.#held = undefined;
  }

  #grant(holder: Holder): Reservation {
    const reservation: Reservation = {
      holder,
      release: () => {
        if (this.#held === reservation) this.#held = undefined;
      },
      passTo: (next) => {
        if (this.#held !== reservation)
          throw new Error(`a ${holder.kind} that holds nothing passed its hold on`);
        return (this.#held = this.#grant(next));
      },
    };
    return reservation;
  }
}

/** What a refusal says holds the manager, e.g. `update of rollout r7`. */
export function describeHolder(holder: Holder): string {
  switch (holder.kind) {
    case 'accepting':
    case 'updating':
      return `update of rollout ${holder.rolloutId}`;
    case 'commit':
      return 'a commit by command';
    case 'rollback':
      return 'a rollback by command';
    case 'recovery':
      return 'the recovery at start';
    case 'lookup':
      return 'the lookup of an object handed over';
  }
}
