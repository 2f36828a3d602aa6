/**
 * The one fixed time of the test fixtures. Library code takes its time as a
 * parameter, so a fixture signed at this time and checked at this time holds
 * on any date; `npm test` proves it by running the unit and security tests
 * again with the clock 400 days ahead. Where a peer reads the wall clock
 * (tuf-js, a running agent), a test signs at the real time instead.
 */
export const FIXTURE_NOW = new Date('2026-11-21T12:00:00Z');

const DAY = 24 * 60 * 60 * 1000;

/** The fixture time moved by `days` (negative: before it). */
export const fixtureDaysFromNow = (days: number) => new Date(FIXTURE_NOW.getTime() + days * DAY);
