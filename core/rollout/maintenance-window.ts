import { UprollError } from '../errors.ts';

// Pure and deterministic (no Node, no clock, no zod): it also runs in Temporal workflow code,
// where every workflow start evaluates its imports again. The schema is in policy.ts.

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
/** How far ahead to look for an opening: 8 years, so that `0 0 29 2 *` (29 February) always finds one. */
const SEARCH_LIMIT_MS = 8 * 366 * DAY;

/** True when `Intl` knows the IANA time zone, e.g. `Europe/Berlin`. */
export function isValidTimezone(zone: string): boolean {
  return formatterFor(zone) !== undefined;
}

/** When devices may update: occurrences start at the minutes `cron` matches and last `durationMs`. */
export interface MaintenanceWindow {
  /** A 5-field cron expression (minute hour day-of-month month day-of-week) in `timezone`. */
  cron: string;
  durationMs: number;
  /** IANA time zone of the cron; UTC when absent. A device's own time zone takes precedence. */
  timezone?: string | undefined;
}

/** A parsed cron expression: for each field, which values match (index = value). */
export interface CronSpec {
  readonly minutes: readonly boolean[];
  readonly hours: readonly boolean[];
  /** Index 1..31. */
  readonly daysOfMonth: readonly boolean[];
  /** Index 1..12. */
  readonly months: readonly boolean[];
  /** Index 0..6, Sunday = 0. */
  readonly daysOfWeek: readonly boolean[];
  /** Day-of-month and day-of-week both restricted: a day matches when EITHER does (classic cron). */
  readonly eitherDay: boolean;
}

const FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day-of-week', min: 0, max: 7 },
] as const;

/** Parses a 5-field cron expression; throws `INVALID_INPUT` naming the bad field and its value. */
export function parseCron(text: string): CronSpec {
  const fields = text.trim().split(/\s+/);
  if (fields.length !== 5) {
    throw new UprollError('INVALID_INPUT', `cron "${text}" must have 5 fields, not ${fields.length}`);
  }
  const [minute, hour, dayOfMonth, month, dayOfWeek] = fields as [string, string, string, string, string];
  const week = parseField(dayOfWeek, FIELDS[4]);
  return {
    minutes: parseField(minute, FIELDS[0]),
    hours: parseField(hour, FIELDS[1]),
    daysOfMonth: parseField(dayOfMonth, FIELDS[2]),
    months: parseField(month, FIELDS[3]),
    // 0 and 7 are both Sunday.
    daysOfWeek: week.slice(0, 7).map((on, day) => on || (day === 0 && week[7] === true)),
    // As in Vixie cron, a field starting with `*` (also `*/2`) counts as unrestricted.
    eitherDay: !dayOfMonth.startsWith('*') && !dayOfWeek.startsWith('*'),
  };
}

function parseField(text: string, { name, min, max }: (typeof FIELDS)[number]): boolean[] {
  const matches = new Array<boolean>(max + 1).fill(false);
  const fail = (why: string) => new UprollError('INVALID_INPUT', `cron ${name} "${text}": ${why}`);
  for (const item of text.split(',')) {
    // `*`, `n`, `a-b`, `*/n`, `a-b/n`: digits are capped so a huge number cannot slip through as Infinity.
    const parts = /^(?:\*|(\d{1,2})(?:-(\d{1,2}))?)(?:\/(\d{1,2}))?$/.exec(item);
    if (!parts) throw fail(`"${item}" is not *, a number, a range a-b or a step */n or a-b/n`);
    const [, first, last, step] = parts;
    if (first !== undefined && last === undefined && step !== undefined) {
      throw fail(`a step needs * or a range, as in */${step} or ${first}-${max}/${step}`);
    }
    const from = first === undefined ? min : Number(first);
    const to = first === undefined ? max : Number(last ?? first);
    const by = Number(step ?? 1);
    if (from < min || to > max) throw fail(`values must be within ${min}-${max}`);
    if (from > to) throw fail(`range ${from}-${to} runs backwards`);
    if (by < 1) throw fail('a step must be at least 1');
    for (let value = from; value <= to; value += by) matches[value] = true;
  }
  return matches;
}

/**
 * Milliseconds from `now` until the maintenance window opens: 0 while an occurrence (begun at a
 * matching minute, lasting `durationMs`) covers `now`. Minutes are read on the wall clock of
 * `deviceTimezone`, else `window.timezone`, else UTC. Across DST: a start in the hour the clocks skip
 * opens at the jump (rather than not at all); a start in the hour that repeats opens in both.
 * Throws `INVALID_INPUT` for a bad time zone or `now`, or a cron that never matches (`0 0 31 2 *`).
 */
export function msUntilWindowOpen(window: MaintenanceWindow, now: Date, deviceTimezone?: string): number {
  const zone = deviceTimezone ?? window.timezone ?? 'UTC';
  if (!isValidTimezone(zone)) throw new UprollError('INVALID_INPUT', `unknown time zone "${zone}"`);
  const at = now.getTime();
  if (!Number.isFinite(at)) throw new UprollError('INVALID_INPUT', 'now is not a valid date');
  // The earliest start after now - durationMs either covers now or is the next opening.
  const start = firstStart(parseCron(window.cron), zone, at - window.durationMs + 1, at + SEARCH_LIMIT_MS);
  if (start === undefined) throw new UprollError('INVALID_INPUT', 'the maintenance window never opens');
  return Math.max(0, start - at);
}

/** The first instant at or after `from` that starts an occurrence, scanning up to `limit`. */
function firstStart(spec: CronSpec, zone: string, from: number, limit: number): number | undefined {
  // Begin a minute early so that a start at a DST jump falling exactly on `from` is still seen.
  let t = Math.ceil(from / MINUTE) * MINUTE - MINUTE;
  let wall = wallClock(zone, t);
  while (t <= limit) {
    let next = nextWallMatch(spec, wall, wall + (limit - t) + DAY);
    if (next === wall && t >= from) return t;
    if (next === wall) next = nextWallMatch(spec, wall + MINUTE, wall + (limit - t) + DAY);
    if (next === undefined) return undefined;
    // Jump on the wall clock, assuming the UTC offset holds; if it does not, stop at the DST change.
    const jump = t + (next - wall);
    if (wallClock(zone, jump) === next) return jump;
    const offset = wall - t;
    const change = findOffsetChange(zone, t, jump, offset);
    const changeWall = wallClock(zone, change);
    const skipped = changeWall - change - offset;
    if (skipped > 0 && nextWallMatch(spec, changeWall - skipped, changeWall - MINUTE) !== undefined) {
      return change;
    }
    t = change;
    wall = changeWall;
  }
  return undefined;
}

/**
 * The first wall-clock minute at or after `wall` that the cron matches, up to `limit`. Wall-clock
 * times are encoded as if they were UTC, so that calendar arithmetic needs no time zone; whole
 * months, days and hours that cannot match are skipped.
 */
function nextWallMatch(spec: CronSpec, wall: number, limit: number): number | undefined {
  const d = new Date(wall);
  while (d.getTime() <= limit) {
    if (!spec.months[d.getUTCMonth() + 1]) {
      d.setUTCMonth(d.getUTCMonth() + 1, 1);
      d.setUTCHours(0, 0);
    } else if (!dayMatches(spec, d)) {
      d.setUTCDate(d.getUTCDate() + 1);
      d.setUTCHours(0, 0);
    } else if (!spec.hours[d.getUTCHours()]) {
      d.setUTCHours(d.getUTCHours() + 1, 0);
    } else if (!spec.minutes[d.getUTCMinutes()]) {
      d.setUTCMinutes(d.getUTCMinutes() + 1);
    } else {
      return d.getTime();
    }
  }
  return undefined;
}

function dayMatches(spec: CronSpec, d: Date): boolean {
  const byMonth = spec.daysOfMonth[d.getUTCDate()] === true;
  const byWeek = spec.daysOfWeek[d.getUTCDay()] === true;
  return spec.eitherDay ? byMonth || byWeek : byMonth && byWeek;
}

/** The first minute in (`lo`, `hi`] whose UTC offset is not `offset`. */
function findOffsetChange(zone: string, lo: number, hi: number, offset: number): number {
  while (hi - lo > MINUTE) {
    const mid = lo + Math.floor((hi - lo) / MINUTE / 2) * MINUTE;
    if (wallClock(zone, mid) - mid === offset) lo = mid;
    else hi = mid;
  }
  return hi;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** A cached formatter for wall-clock minutes in `zone`, or undefined for an unknown zone. */
function formatterFor(zone: string): Intl.DateTimeFormat | undefined {
  let format = formatters.get(zone);
  if (format) return format;
  try {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
  } catch {
    return undefined;
  }
  // Bounded: device time zones are untrusted strings (every case variant of a zone is valid).
  if (formatters.size >= 1000) formatters.clear();
  formatters.set(zone, format);
  return format;
}

/** The wall-clock minute of `instant` in `zone` (already validated), encoded as if it were UTC. */
function wallClock(zone: string, instant: number): number {
  const f = { year: 0, month: 0, day: 0, hour: 0, minute: 0 };
  for (const part of formatterFor(zone)!.formatToParts(instant)) {
    if (part.type in f) f[part.type as keyof typeof f] = Number(part.value);
  }
  return Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute);
}
