import { describe, expect, it } from 'vitest';
import { DIRECTOR_EXPIRY_DAYS, expiresAt, IMAGE_EXPIRY_DAYS } from '../../../services/repo/index.ts';

const DAY_MS = 24 * 3600 * 1000;
const now = new Date();
const days = (date: Date) => (date.getTime() - now.getTime()) / DAY_MS;

describe('how long the repositories sign metadata for', () => {
  it('gives the online roles of both a day (timestamp) and a week (snapshot)', () => {
    for (const policy of [IMAGE_EXPIRY_DAYS, DIRECTOR_EXPIRY_DAYS]) {
      expect(days(expiresAt(policy, 'timestamp', now))).toBe(1);
      expect(days(expiresAt(policy, 'snapshot', now))).toBe(7);
      expect(days(expiresAt(policy, 'root', now))).toBe(365);
    }
  });

  it("keeps the Image repository's offline-signed targets long and the Director's, signed online, short", () => {
    expect(days(expiresAt(IMAGE_EXPIRY_DAYS, 'targets', now))).toBe(90);
    expect(days(expiresAt(IMAGE_EXPIRY_DAYS, 'releases', now))).toBe(90);
    expect(days(expiresAt(DIRECTOR_EXPIRY_DAYS, 'targets', now))).toBe(7);
  });
});
