// npm run bench:policy — how long a rollout takes to decide which of 10,000
// devices are in their maintenance window, against reading each device's wall
// clock with Intl alone (the least the decision needs), in the same run.
// Prints figures, never fails on them.
import { maintenanceWindowSchema, msUntilWindowOpen } from '../../core/index.ts';
import { median, timeRounds } from '../stats.ts';

const DEVICES = 10_000;
const ROUNDS = 5;
const MINUTE = 60_000;
const zones = ['Europe/Berlin', 'America/New_York', 'Asia/Tokyo', 'Australia/Sydney', 'UTC'];
const window = maintenanceWindowSchema.parse({
  cron: '0 2 * * 6',
  durationMs: 3 * 3600_000,
  timezone: 'Europe/Berlin',
});
const start = Date.UTC(2026, 2, 1);
const formats = zones.map(
  (timeZone) => new Intl.DateTimeFormat('en-US', { timeZone, hour: 'numeric', minute: 'numeric' }),
);

const fleet = await timeRounds(ROUNDS, 1, () => {
  for (let i = 0; i < DEVICES; i++)
    msUntilWindowOpen(window, new Date(start + i * 37 * MINUTE), zones[i % zones.length]);
});
const baseline = await timeRounds(ROUNDS, 1, () => {
  for (let i = 0; i < DEVICES; i++) formats[i % formats.length]!.format(new Date(start + i * 37 * MINUTE));
});

const [fleetMs, baselineMs] = [median(fleet), median(baseline)];
console.log(
  `maintenance windows of ${DEVICES} devices in ${zones.length} time zones, median of ${ROUNDS} rounds:`,
);
console.log(
  `  msUntilWindowOpen      ${fleetMs.toFixed(1)} ms (${((fleetMs * 1000) / DEVICES).toFixed(1)} µs per device)`,
);
console.log(`  Intl wall clock only   ${baselineMs.toFixed(1)} ms`);
console.log(`  ratio                  ${(fleetMs / baselineMs).toFixed(1)}x`);
