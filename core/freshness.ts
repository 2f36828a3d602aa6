/** How long before expiry metadata is re-signed. */
export interface FreshnessMargins {
  timestampMs: number;
  snapshotMs: number;
}

const HOUR = 60 * 60 * 1000;

/** Re-sign a timestamp that has under 12 hours left, a snapshot under 3 days: both well before expiry. */
export const DEFAULT_FRESHNESS_MARGINS: FreshnessMargins = { timestampMs: 12 * HOUR, snapshotMs: 72 * HOUR };

/**
 * What a repository must re-sign now to stay valid: the timestamp when it
 * nears its expiry, the snapshot too when that nears its own (a new snapshot
 * always comes with a new timestamp). Pure: expiries and a time in.
 */
export function planRefresh(
  expires: { timestamp: Date; snapshot: Date },
  now: Date,
  margins: FreshnessMargins = DEFAULT_FRESHNESS_MARGINS,
): { timestamp: boolean; snapshot: boolean } {
  const snapshot = expires.snapshot.getTime() - now.getTime() < margins.snapshotMs;
  const timestamp = snapshot || expires.timestamp.getTime() - now.getTime() < margins.timestampMs;
  return { timestamp, snapshot };
}
