// Pure: what the rollout does with one device's update, by its policy.
import type { MaintenanceWindow } from './maintenance-window.ts';
import { msUntilWindowOpen } from './maintenance-window.ts';
import { classifyFailure } from './outcomes.ts';
import type { RolloutPolicy } from './policy.ts';

/** After a failed attempt: wait for the device (offline), try again after a backoff, or count the failure. */
export type FailureStep =
  { action: 'pending' } | { action: 'retry'; backoffMs: number } | { action: 'fail'; security: boolean };

/** Transient failures are retried with exponential backoff; a verification failure never is. */
export function afterFailure(policy: RolloutPolicy, code: string, attempt: number): FailureStep {
  const failureClass = classifyFailure(code);
  if (failureClass === 'offline') return { action: 'pending' };
  if (failureClass === 'transient' && attempt <= policy.retries.transient)
    return { action: 'retry', backoffMs: policy.retries.backoffMs * 2 ** (attempt - 1) };
  return { action: 'fail', security: failureClass === 'verification' };
}

/** When a device outside its maintenance window may start (its own time zone first); undefined: now. */
export function windowOpensAt(
  window: MaintenanceWindow | undefined,
  now: number,
  deviceTimezone?: string,
): number | undefined {
  if (!window) return undefined;
  const wait = msUntilWindowOpen(window, new Date(now), deviceTimezone);
  return wait > 0 ? now + wait : undefined;
}

/** What a device's last heartbeat said. */
export interface Heard {
  lastSeenAt: string;
  /** null: the device runs no revision (it reported none). */
  revision?: string | null | undefined;
}

/** A heartbeat sent after `since` names another revision than the rollout's: the device went back. */
export function runsAnotherRevision(heard: Heard | undefined, since: number, revision: string): boolean {
  return heard?.revision !== undefined && Date.parse(heard.lastSeenAt) > since && heard.revision !== revision;
}

/** An offline device is back once it was heard of after it was found offline. */
export function isBack(heard: Heard | undefined, since: number): boolean {
  return heard !== undefined && Date.parse(heard.lastSeenAt) > since;
}
