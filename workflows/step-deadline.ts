import { sleep } from '@temporalio/workflow';

/**
 * The time limit of the step a device update waits on, kept with one timer
 * at a time. The timer runs for at most the shortest limit and is armed
 * again only when it fires, so an update whose device moves on quickly
 * costs one timer, never cancelled, however many steps it takes (a timer
 * per step, started and cancelled, costs the server four events each).
 */
export class StepDeadline {
  readonly #granularityMs: number;
  #deadline = Number.POSITIVE_INFINITY;
  #armed = false;

  /** `granularityMs`: the shortest limit any step can get. */
  constructor(granularityMs: number) {
    this.#granularityMs = Math.max(1, granularityMs);
  }

  /** Starts a step that must end within `limitMs` from now. */
  start(limitMs: number): void {
    this.#deadline = Date.now() + limitMs;
    if (!this.#armed) this.#arm();
  }

  /** True once the current step has outlasted its limit (read it in a `condition`). */
  get passed(): boolean {
    return Date.now() >= this.#deadline;
  }

  #arm(): void {
    // Never longer than the shortest limit: a step started before this timer
    // fires cannot end before it, so no step is ever judged late.
    const wait = Math.min(this.#deadline - Date.now(), this.#granularityMs);
    this.#armed = true;
    void sleep(Math.max(1, wait)).then(() => {
      this.#armed = false;
      if (!this.passed) this.#arm();
    });
  }
}
