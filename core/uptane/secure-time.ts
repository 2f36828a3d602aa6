/**
 * Uptane: the time to verify against. A device clock that reads earlier than
 * the last time metadata was verified is treated as that time, so setting the
 * clock back never revives expired metadata.
 */
export function verificationTime(deviceClock: Date, lastVerified: Date | undefined): Date {
  if (lastVerified && deviceClock.getTime() < lastVerified.getTime()) return new Date(lastVerified);
  return deviceClock;
}
