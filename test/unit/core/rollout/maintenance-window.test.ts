import { describe, expect, it } from 'vitest';
import {
  maintenanceWindowSchema,
  msUntilWindowOpen,
  parseCron,
  type CronSpec,
  type MaintenanceWindow,
} from '../../../../core/index.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const window = (cron: string, durationMs = HOUR, timezone?: string): MaintenanceWindow =>
  maintenanceWindowSchema.parse({ cron, durationMs, timezone });
const until = (w: MaintenanceWindow, now: string, deviceTimezone?: string) =>
  msUntilWindowOpen(w, new Date(now), deviceTimezone);
/** The instant the window next opens, or `now` itself while it is open. */
const opensAt = (w: MaintenanceWindow, now: string, deviceTimezone?: string) =>
  new Date(Date.parse(now) + until(w, now, deviceTimezone)).toISOString();
const values = (matches: readonly boolean[]) => matches.flatMap((on, value) => (on ? [value] : []));

describe('the maintenance window schema', () => {
  it('accepts a cron, a duration and an optional time zone', () => {
    expect(maintenanceWindowSchema.parse({ cron: '0 2 * * *', durationMs: 4 * HOUR })).toEqual({
      cron: '0 2 * * *',
      durationMs: 4 * HOUR,
    });
    expect(window('0 2 * * 1-5', HOUR, 'Europe/Berlin').timezone).toBe('Europe/Berlin');
  });

  it('refuses a bad cron, naming the cron field and the value', () => {
    const result = maintenanceWindowSchema.safeParse({ cron: '0 25 * * *', durationMs: HOUR });
    expect(result.error?.issues[0]?.path).toEqual(['cron']);
    expect(result.error?.issues[0]?.message).toBe('cron hour "25": values must be within 0-23');
  });

  it('refuses a cron longer than 128 characters', () => {
    const long = `0 ${Array.from({ length: 70 }, () => '1').join(',')} * * *`;
    expect(maintenanceWindowSchema.safeParse({ cron: long, durationMs: HOUR }).error?.issues[0]?.code).toBe(
      'too_big',
    );
  });

  it('refuses a time zone Intl does not know', () => {
    const result = maintenanceWindowSchema.safeParse({
      cron: '0 2 * * *',
      durationMs: HOUR,
      timezone: 'Mars/Olympus',
    });
    expect(result.error?.issues[0]?.path).toEqual(['timezone']);
  });

  it.each([
    ['shorter than a minute', 59_999],
    ['longer than 7 days', 7 * DAY + 1],
    ['not whole milliseconds', 90_000.5],
  ])('refuses a duration %s', (_, durationMs) => {
    expect(
      maintenanceWindowSchema.safeParse({ cron: '0 2 * * *', durationMs }).error?.issues[0]?.path,
    ).toEqual(['durationMs']);
  });
});

describe('parsing cron', () => {
  it('reads numbers, lists, ranges and steps', () => {
    const spec = parseCron('0,30 9-17/4 */10 1-3 1-5');
    expect(values(spec.minutes)).toEqual([0, 30]);
    expect(values(spec.hours)).toEqual([9, 13, 17]);
    expect(values(spec.daysOfMonth)).toEqual([1, 11, 21, 31]);
    expect(values(spec.months)).toEqual([1, 2, 3]);
    expect(values(spec.daysOfWeek)).toEqual([1, 2, 3, 4, 5]);
  });

  it('takes both 0 and 7 for Sunday', () => {
    expect(values(parseCron('0 0 * * 7').daysOfWeek)).toEqual([0]);
    expect(values(parseCron('0 0 * * 5-7').daysOfWeek)).toEqual([0, 5, 6]);
  });

  it('matches a day by EITHER day-of-month or day-of-week only when both are restricted', () => {
    expect(parseCron('0 0 13 * 5').eitherDay).toBe(true);
    expect(parseCron('0 0 13 * *').eitherDay).toBe(false);
    expect(parseCron('0 0 * * 5').eitherDay).toBe(false);
  });

  it.each([
    ['0 2 * *', 'must have 5 fields, not 4'],
    ['60 * * * *', 'cron minute "60": values must be within 0-59'],
    ['* 24 * * *', 'cron hour "24"'],
    ['* * 0 * *', 'cron day-of-month "0"'],
    ['* * * 13 *', 'cron month "13"'],
    ['* * * * 8', 'cron day-of-week "8"'],
    ['* * * * MON', 'cron day-of-week "MON": "MON" is not *'],
    ['5-1 * * * *', 'range 5-1 runs backwards'],
    ['*/0 * * * *', 'a step must be at least 1'],
    ['5/10 * * * *', 'a step needs * or a range'],
    ['1,,2 * * * *', 'cron minute "1,,2": "" is not'],
    ['-1 * * * *', 'cron minute "-1"'],
    ['999999999999 * * * *', 'cron minute "999999999999"'],
  ])('refuses "%s", saying %s', (cron, message) => {
    expect(() => parseCron(cron)).toThrowWithCode('INVALID_INPUT');
    expect(() => parseCron(cron)).toThrow(message);
  });
});

describe('when the window opens (UTC)', () => {
  const nightly = window('0 23 * * *', 4 * HOUR);

  it('is open (0) from the starting minute until just before the end', () => {
    expect(until(nightly, '2026-05-04T23:00:00Z')).toBe(0);
    expect(until(nightly, '2026-05-05T02:59:59.999Z')).toBe(0);
  });

  it('is open the morning after a window that began yesterday', () => {
    expect(until(nightly, '2026-05-05T01:00:00Z')).toBe(0);
  });

  it('counts the milliseconds until the next start when closed, including at the end of an occurrence', () => {
    expect(until(nightly, '2026-05-05T03:00:00Z')).toBe(20 * HOUR);
    expect(until(nightly, '2026-05-05T22:59:30Z')).toBe(30_000);
  });

  it('skips to the next matching day, month and year', () => {
    expect(opensAt(window('30 4 * * 1-5'), '2026-05-08T06:00:00Z')).toBe('2026-05-11T04:30:00.000Z'); // Fri -> Mon
    expect(opensAt(window('0 0 1 1 *'), '2026-05-08T05:00:00Z')).toBe('2027-01-01T00:00:00.000Z');
    expect(opensAt(window('0 0 29 2 *'), '2026-03-01T00:00:00Z')).toBe('2028-02-29T00:00:00.000Z');
  });

  it('opens on the 13th or on a Friday when both day fields are restricted', () => {
    // 2026-05-08 is a Friday, 2026-05-13 a Wednesday.
    expect(opensAt(window('0 0 13 * 5'), '2026-05-07T12:00:00Z')).toBe('2026-05-08T00:00:00.000Z');
    expect(opensAt(window('0 0 13 * 5'), '2026-05-12T12:00:00Z')).toBe('2026-05-13T00:00:00.000Z');
    expect(opensAt(window('0 0 13 * *'), '2026-05-07T12:00:00Z')).toBe('2026-05-13T00:00:00.000Z');
  });

  it('refuses a window that never opens', () => {
    expect(() => until(window('0 0 31 2 *'), '2026-05-01T00:00:00Z')).toThrowWithCode('INVALID_INPUT');
    expect(() => until(window('0 0 30 2 *'), '2026-05-01T00:00:00Z')).toThrow(
      'the maintenance window never opens',
    );
  });

  it('refuses an invalid date for now', () => {
    expect(() => until(nightly, 'not a date')).toThrowWithCode('INVALID_INPUT');
  });
});

describe('when the window has a time zone', () => {
  const newYork = window('0 2 * * *', HOUR, 'America/New_York');

  it('reads the cron on that wall clock, winter (UTC-5) and summer (UTC-4)', () => {
    expect(opensAt(newYork, '2026-01-15T00:00:00Z')).toBe('2026-01-15T07:00:00.000Z');
    expect(opensAt(newYork, '2026-07-15T00:00:00Z')).toBe('2026-07-15T06:00:00.000Z');
    expect(until(newYork, '2026-07-15T06:30:00Z')).toBe(0);
  });

  it("uses the device's own time zone first", () => {
    expect(opensAt(newYork, '2026-01-15T00:00:00Z', 'Asia/Kolkata')).toBe('2026-01-15T20:30:00.000Z');
    expect(opensAt(window('0 2 * * *'), '2026-01-15T00:00:00Z', 'America/New_York')).toBe(
      '2026-01-15T07:00:00.000Z',
    );
  });

  it('opens a window that starts at 02:00 on the night New York skips 02:00-03:00 at 03:00 EDT', () => {
    expect(opensAt(newYork, '2026-03-08T00:00:00Z')).toBe('2026-03-08T07:00:00.000Z');
  });

  it('refuses an unknown device time zone', () => {
    expect(() => until(newYork, '2026-01-15T00:00:00Z', 'Nowhere/Special')).toThrowWithCode('INVALID_INPUT');
  });
});

describe('across DST in Europe/Berlin', () => {
  // 2026-03-29: clocks jump from 02:00 CET to 03:00 CEST (01:00Z). 2026-10-25: 03:00 CEST back to 02:00 CET (01:00Z).
  const berlin = (cron: string, durationMs = HOUR) => window(cron, durationMs, 'Europe/Berlin');

  it('keeps a daily window on the wall clock as the offset changes', () => {
    expect(opensAt(berlin('0 1 * * *'), '2026-03-28T12:00:00Z')).toBe('2026-03-29T00:00:00.000Z');
    expect(opensAt(berlin('0 1 * * *'), '2026-03-29T12:00:00Z')).toBe('2026-03-29T23:00:00.000Z');
  });

  it('opens a window whose start falls in the skipped hour at the jump, for its full duration', () => {
    const skipped = berlin('30 2 * * *');
    expect(opensAt(skipped, '2026-03-28T12:00:00Z')).toBe('2026-03-29T01:00:00.000Z');
    expect(until(skipped, '2026-03-29T01:59:30Z')).toBe(0);
    expect(opensAt(skipped, '2026-03-29T02:00:00Z')).toBe('2026-03-30T00:30:00.000Z');
  });

  it('opens a window whose start falls in the repeated hour in both passes', () => {
    const repeated = berlin('30 2 * * *', MINUTE);
    expect(opensAt(repeated, '2026-10-25T00:00:00Z')).toBe('2026-10-25T00:30:00.000Z');
    expect(opensAt(repeated, '2026-10-25T00:31:00Z')).toBe('2026-10-25T01:30:00.000Z');
  });

  it('measures the duration in real time across the jump', () => {
    const overnight = berlin('0 1 * * *', 3 * HOUR); // 00:00Z to 03:00Z, i.e. until 05:00 CEST
    expect(until(overnight, '2026-03-29T02:59:00Z')).toBe(0);
    expect(until(overnight, '2026-03-29T03:00:00Z')).toBeGreaterThan(0);
  });
});

describe('against a minute-by-minute reference in zones without DST', () => {
  // A plain scan over every minute, with the fixed UTC offset of the zone.
  function reference(spec: CronSpec, offsetMs: number, now: number, durationMs: number): number {
    for (let s = Math.ceil((now - durationMs + 1) / MINUTE) * MINUTE; ; s += MINUTE) {
      const wall = new Date(s + offsetMs);
      const byMonth = spec.daysOfMonth[wall.getUTCDate()]!;
      const byWeek = spec.daysOfWeek[wall.getUTCDay()]!;
      const day = spec.eitherDay ? byMonth || byWeek : byMonth && byWeek;
      if (day && spec.months[wall.getUTCMonth() + 1] && spec.hours[wall.getUTCHours()]) {
        if (spec.minutes[wall.getUTCMinutes()]) return Math.max(0, s - now);
      }
    }
  }
  const crons = [
    '*/15 * * * *',
    '0 9-17 * * 1-5',
    '30 2 1,15 * *',
    '0 0 13 * 5',
    '45 23 * * 0',
    '0 */6 1-7 * *',
  ];
  const zones = [
    ['UTC', 0],
    ['Asia/Kolkata', 330 * MINUTE],
  ] as const;

  it.each(crons)('agrees for %s', (cron) => {
    let seed = 7;
    const random = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
    for (let i = 0; i < 40; i++) {
      const now = Date.UTC(2026, 0, 1) + Math.floor(random() * 365 * DAY);
      const durationMs = MINUTE + Math.floor(random() * 2 * DAY);
      for (const [zone, offsetMs] of zones) {
        const w = maintenanceWindowSchema.parse({ cron, durationMs, timezone: zone });
        expect(msUntilWindowOpen(w, new Date(now))).toBe(
          reference(parseCron(cron), offsetMs, now, durationMs),
        );
      }
    }
  });
});

describe('evaluating a fleet', () => {
  // How fast: npm run bench:policy.
  it('answers for devices in different time zones, each on its own wall clock', () => {
    const w = window('0 2 * * 6', 3 * HOUR, 'Europe/Berlin');
    const now = '2026-03-07T02:30:00Z'; // a Saturday: 03:30 in Berlin, 21:30 Friday in New York
    expect(until(w, now)).toBe(0);
    expect(until(w, now, 'Europe/Berlin')).toBe(0);
    expect(opensAt(w, now, 'America/New_York')).toBe('2026-03-07T07:00:00.000Z');
    expect(opensAt(w, now, 'Asia/Tokyo')).toBe('2026-03-13T17:00:00.000Z');
  });
});
