const DAY_MS = 24 * 60 * 60 * 1000;

/** How long the metadata of each role stays valid, in days. */
export type ExpiryPolicy<Role extends string> = Readonly<Record<Role, number>>;

/**
 * The Image repository's: offline keys sign root, targets and releases, so
 * those last long; the online snapshot and timestamp are re-signed often.
 */
export const IMAGE_EXPIRY_DAYS = {
  root: 365,
  targets: 90,
  releases: 90,
  snapshot: 7,
  timestamp: 1,
} as const satisfies ExpiryPolicy<string>;

/** The Director's: short, since its keys are online and it re-signs often. */
export const DIRECTOR_EXPIRY_DAYS = {
  root: 365,
  targets: 7,
  snapshot: 7,
  timestamp: 1,
} as const satisfies ExpiryPolicy<string>;

/** When metadata of `role` signed at `now` expires under `policy`. */
export function expiresAt<Role extends string>(policy: ExpiryPolicy<Role>, role: Role, now: Date): Date {
  return new Date(now.getTime() + policy[role] * DAY_MS);
}
