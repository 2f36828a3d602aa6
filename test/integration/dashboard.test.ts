import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDashboard } from '../../release/dashboard/build.ts';
import {
  FleetMetrics,
  issueApiToken,
  fleetRoutes,
  deviceListRoute,
  keyRoutes,
  startApiServer,
  type ApiRole,
} from '../../services/api/index.ts';
import { KeyStore, proposeRoot } from '../../keys/index.ts';
import { readDeviceViews, startProjector, type Projector } from '../../services/projections/index.ts';
import type { ProtocolFleet } from '../../sim/index.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';
import { startFleetOf } from '../helpers/protocol-fleet-rig.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

// A release manager in Debian's Chromium: signs in with a token, follows a
// rollout live on its page, pauses and resumes it there, and sees a bad
// release's canary fail and roll back. Screenshots of each page go to
// test-artifacts/dashboard/.
const SCREENSHOTS = join(import.meta.dirname, '../../test-artifacts/dashboard');
const tokenKeys = generateKeyPairSync('ed25519');
let h: Harness;
let fleet: ProtocolFleet;
let projector: Projector;
let metrics: FleetMetrics;
let metricsBefore: string;
/** The rollouts this file starts. */
const rolloutIds: string[] = [];
let api: { url: string; close(): Promise<void> };
let browser: Browser;
let page: Page;
let devices: string[];
let keyStore: KeyStore;
let good: string;
let bad: string;

beforeAll(async () => {
  const dashboardDir = await mkdtemp(join(tmpdir(), 'uproll-dashboard-'));
  await buildDashboard(dashboardDir);
  await mkdir(SCREENSHOTS, { recursive: true });
  h = await startHarness();
  await h.startWorker();
  bad = uniqueId('dashbad');
  ({ devices, fleet } = await startFleetOf({
    count: 3,
    prefix: uniqueId('dash'),
    repos: h.repos,
    stateDir: h.stateDir,
    natsUrl: h.addresses.nats,
    unhealthy: (_, revision) => revision === bad,
  }));
  good = uniqueId('dashrev');
  await h.repos.publish(good, randomArtifacts(1, 1024), { releaseCounter: 2 });
  await h.repos.publish(bad, randomArtifacts(1, 1024), { releaseCounter: 3 });
  // Every device runs a first revision, which a rollback returns it to.
  await h.rollOutFirstRevision(devices);
  // Projections of this file's own, kept live by a projector as `uproll serve` runs one.
  const suffix = uniqueId('b').replace('-', '_');
  const buckets = { rollouts: `R_${suffix}`, devices: `D_${suffix}`, fleet: `F_${suffix}` };
  projector = await startProjector(h.nc, { durableName: uniqueId('dash-projector'), buckets });
  metrics = await FleetMetrics.start(h.nc, {
    now: () => new Date(),
    temporal: h.client,
    buckets,
    bridgeConsumer: h.bridgeConsumer,
  });
  // A key store of one online key that has signed once: what the keys page lists and audits.
  keyStore = new KeyStore(await mkdtemp(join(tmpdir(), 'uproll-dashboard-keys-')), {
    clock: () => new Date(),
  });
  const key = await keyStore.generate({
    repository: 'image',
    role: 'timestamp',
    online: true,
    passphrase: 'a passphrase',
    now: new Date(),
  });
  await (await keyStore.signer(key.keyId, 'a passphrase')).sign(new TextEncoder().encode('signed'));
  const fleetApi = fleetRoutes({
    temporal: h.client,
    now: () => new Date(),
    nc: h.nc,
    eventLog: h.eventLog,
    director: h.repos.director,
    image: h.repos.image,
    taskQueue: h.taskQueue,
    buckets,
    followed: metrics,
  });
  api = await startApiServer({
    ...fleetApi,
    routes: [
      ...fleetApi.routes,
      deviceListRoute({ director: h.repos.director, views: () => readDeviceViews(h.nc, buckets) }),
      ...keyRoutes({
        store: keyStore,
        image: h.repos.image,
        director: h.repos.director,
        now: () => new Date(),
      }),
    ],
    tokenKey: tokenKeys.publicKey,
    now: () => new Date(),
    onChanged: () => Promise.resolve(),
    checkResponses: true,
    dashboardDir,
    metrics,
  });
  metricsBefore = await (await fetch(`${api.url}/metrics`)).text();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  // Every confirm ("Pause rollout …?") is answered yes, as the release manager would.
  page.on('dialog', (dialog) => void dialog.accept());
}, 180_000);
afterAll(async () => {
  await browser?.close();
  await api?.close();
  await projector?.stop();
  metrics?.stop();
  await fleet?.stop();
  await h?.close();
});

const token = (role: ApiRole) =>
  issueApiToken({
    subject: `${role}@dashboard`,
    role,
    ttlSeconds: 900,
    key: tokenKeys.privateKey,
    now: new Date(),
  });

const status = () => page.getByTestId('rollout-status');
const count = (name: string) => page.locator(`[data-count="${name}"]`);

/** The value of one series in Prometheus' text format (0 when absent). */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe('the dashboard, in Chromium', () => {
  it('refuses a token it cannot verify, saying why, and signs in with a good one', async () => {
    await page.goto(`${api.url}/`);
    await page.getByLabel('Token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('UNAUTHORIZED');

    await page.getByLabel('Token').fill(await token('release'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Fleet' }).waitFor();
    // The presence the other files' agents keep: a count, whichever it is.
    await expect.poll(() => page.getByTestId('online-count').textContent()).toMatch(/^\d+$/);
    await page.screenshot({ path: join(SCREENSHOTS, 'fleet.png'), fullPage: true });
  });

  it('shows a rollout started after the page opened, live, pauses and resumes it, and rolls it back', async () => {
    await page.getByRole('link', { name: 'Rollouts' }).click();
    await page.getByRole('heading', { name: 'Rollouts' }).waitFor();
    const rolloutId = uniqueId('dashro');
    rolloutIds.push(rolloutId);
    // The canary commits, then the rollout soaks: there is time to pause it.
    await h.startRollout({
      rolloutId,
      revision: good,
      target: { devices },
      policy: { canary: 1, waves: { percentages: [100] }, gate: { soakMs: 3_600_000 } },
      startedBy: 'alice@test',
    });
    // No reload: the list learns of it from the live stream.
    await page.getByRole('link', { name: rolloutId }).click({ timeout: 60_000 });
    await expect.poll(() => count('committed').textContent(), { timeout: 60_000 }).toBe('1');
    await expect.poll(() => status().textContent()).toBe('running');
    await page.screenshot({ path: join(SCREENSHOTS, 'rollout-running.png'), fullPage: true });

    await page.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(() => status().textContent()).toBe('paused');
    expect(await page.getByRole('button', { name: 'Pause' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(() => status().textContent()).toBe('running');
    // Rolled back while it runs (after a confirm): the canary goes back, the page says who asked.
    await page.getByRole('button', { name: 'Roll back' }).click();
    await expect.poll(() => status().textContent(), { timeout: 60_000 }).toBe('rolled_back');
    await expect.poll(() => count('rolledBack').textContent()).toBe('1');
    await expect
      .poll(() => page.getByRole('table', { name: 'rollout timeline' }).textContent())
      .toContain('rollback by command');
    expect(await page.getByRole('button', { name: 'Roll back' }).isDisabled()).toBe(true);
  });

  it("shows a bad release's canary failing, with its code, the rollout rolled back, and retries it", async () => {
    const rolloutId = uniqueId('dashbad');
    rolloutIds.push(rolloutId);
    await h.startRollout({
      rolloutId,
      revision: bad,
      target: { devices },
      policy: { canary: 1, waves: { percentages: [100] }, onBreach: 'abort_and_rollback' },
      startedBy: 'bob@test',
    });
    await page.goto(`${api.url}/dashboard/#/rollouts/${rolloutId}`);
    await expect.poll(() => status().textContent(), { timeout: 90_000 }).toBe('rolled_back');
    // Nothing of the page before (the rollback's notice) is left on this one.
    expect(await page.getByRole('status').count()).toBe(0);
    await expect.poll(() => page.locator('td code').first().textContent()).toMatch(/^[A-Z_]+$/);
    await page.screenshot({ path: join(SCREENSHOTS, 'rollout-rolled-back.png'), fullPage: true });

    // The failing device's own page: its error and its history, newest first.
    await page.locator('tbody a').first().click();
    await page.getByRole('heading', { name: /^Device / }).waitFor();
    await expect.poll(() => page.getByTestId('device-error').textContent()).toContain('HEALTH_CHECK_FAILED');
    await expect
      .poll(() => page.locator('tbody tr td:nth-child(2)').allTextContents())
      .toContain('device.update.rolled_back');
    await page.screenshot({ path: join(SCREENSHOTS, 'device.png'), fullPage: true });

    // Retried as a new rollout, whose canary fails its gate again: that rollout pauses, saying why.
    await page.goBack();
    await page.getByRole('button', { name: 'Retry failed' }).click();
    await expect
      .poll(() => page.getByRole('heading', { name: /^Rollout / }).textContent())
      .toContain('-retry-');
    rolloutIds.push(decodeURIComponent(page.url().split('/').at(-1)!));
    await expect.poll(() => status().textContent(), { timeout: 90_000 }).toBe('paused');
    await expect
      .poll(() => page.getByRole('list', { name: 'waves' }).textContent())
      .toMatch(/gate: failed: /);
    await page.getByRole('button', { name: 'Abort' }).click();
    await expect.poll(() => status().textContent()).toBe('aborted');
  });

  it('starts a rollout from its form, showing the plan first, and follows it to its end', async () => {
    await page.goto(`${api.url}/dashboard/#/rollouts`);
    await page.getByRole('link', { name: 'Start a rollout' }).click();
    const rolloutId = uniqueId('dashform');
    rolloutIds.push(rolloutId);
    await page.getByLabel('Rollout id').fill(rolloutId);
    await page.getByLabel('Revision').fill(good);
    await page.getByLabel('Target', { exact: true }).selectOption('devices');
    await page.getByLabel('Hardware id, tag or devices').fill(devices.join(', '));
    await page.getByLabel('Waves (cumulative %)').fill('100');
    await page.getByRole('button', { name: 'Show the plan' }).click();
    await expect
      .poll(() => page.getByTestId('plan').locator('li').allTextContents())
      .toEqual([
        expect.stringMatching(/^wave 0 \(canary\): 1 device /),
        expect.stringMatching(/^wave 1: 2 devices /),
      ]);
    await page.screenshot({ path: join(SCREENSHOTS, 'start-plan.png'), fullPage: true });
    await page.getByRole('button', { name: 'Start' }).click();
    await expect.poll(() => status().textContent(), { timeout: 90_000 }).toBe('completed');
    await expect.poll(() => count('committed').textContent()).toBe('3');
  });

  it('lists the devices, filtered by the phase of their latest update, each a link to its page', async () => {
    await page.getByRole('link', { name: 'Devices' }).click();
    const rows = () => page.getByRole('table', { name: 'devices' }).locator('tbody tr');
    await expect.poll(() => rows().count()).toBe(devices.length);
    // The form's rollout committed every device; nothing of this fleet is failed now.
    await page.getByLabel('Phase').selectOption('failed');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => page.getByText('No device matches.').count()).toBe(1);
    await page.getByLabel('Phase').selectOption('committed');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => rows().locator('a').allTextContents()).toEqual([...devices].sort());
    await page.screenshot({ path: join(SCREENSHOTS, 'devices.png'), fullPage: true });
    await rows().locator('a').first().click();
    await page.getByRole('heading', { name: /^Device / }).waitFor();
  });

  it("shows a security team its keys, each repository's root, the signatures and a root ceremony's progress", async () => {
    await page.getByRole('link', { name: 'Keys' }).click();
    const [key] = await keyStore.list();
    await expect
      .poll(() => page.getByRole('table', { name: 'keys' }).textContent())
      .toContain(key!.keyId.slice(0, 16));
    await expect.poll(() => page.getByRole('table', { name: 'roots' }).locator('tbody tr').count()).toBe(2);
    await expect
      .poll(() => page.getByRole('table', { name: 'signature audit' }).locator('tbody tr').allTextContents())
      .toEqual([expect.stringContaining('timestamp')]);
    // A proposal of the Image repository's next root, signed by nobody yet.
    const proposal = await proposeRoot(await h.repos.image.currentRootBytes(), {
      expires: new Date(Date.now() + 365 * 86_400_000),
    });
    await page.getByLabel('Proposal', { exact: false }).fill(new TextDecoder().decode(proposal));
    await page.getByRole('button', { name: 'Check the signatures' }).click();
    await expect
      .poll(() => page.getByTestId('ceremony-status').textContent())
      .toMatch(/^root v\d+: 0 of \d+ current root keys, 0 of \d+ of its own — needs more signatures$/);
    await page.getByLabel('Proposal', { exact: false }).fill('{"not": "a root"}');
    await page.getByRole('button', { name: 'Check the signatures' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('INVALID_INPUT');
    await page.screenshot({ path: join(SCREENSHOTS, 'keys.png'), fullPage: true });
  });

  it('shows a viewer every rollout and no controls, readable on a phone', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Token').fill(await token('viewer'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Rollouts' }).click();
    await page.getByRole('heading', { name: 'Rollouts' }).waitFor();
    // This file's rollouts among those of the files running beside it.
    await expect
      .poll(() => page.locator('tbody a').allTextContents())
      .toEqual(expect.arrayContaining(rolloutIds));
    // One of this file's: another file's rollout answers only while that file's worker runs.
    await page.getByRole('link', { name: rolloutIds[0]!, exact: true }).click();
    await status().waitFor();
    expect(await page.getByRole('button', { name: 'Pause' }).count()).toBe(0);
    await page.setViewportSize({ width: 390, height: 844 }); // a phone
    await page.screenshot({ path: join(SCREENSHOTS, 'rollouts-phone.png'), fullPage: true });
  });

  it('has Prometheus metrics at /metrics, whose counts moved with the rollouts above', async () => {
    const scrape = () => fetch(`${api.url}/metrics`); // scrapers hold no token
    expect((await scrape()).headers.get('content-type')).toContain('text/plain');
    // The projections fold the whole event log, which other test files write to as well: the
    // counts are at least this file's. Durations are observed only as this process saw them.
    await expect
      .poll(async () => {
        const text = await (await scrape()).text();
        return (
          sample(text, 'uproll_rollouts{status="aborted"}') >= 1 &&
          sample(text, 'uproll_rollouts{status="rolled_back"}') >= 1 &&
          sample(text, 'uproll_rollouts{status="completed"}') >= 1 &&
          sample(text, 'uproll_devices{phase="committed"}') >= 3
        );
      })
      .toBe(true);
    const after = await (await scrape()).text();
    const committedUpdates = (text: string) =>
      sample(text, 'uproll_device_update_seconds_count{outcome="committed"}');
    // The form's rollout alone committed three (the first rollout's canary one more).
    expect(committedUpdates(after) - committedUpdates(metricsBefore)).toBeGreaterThanOrEqual(4);
    expect(sample(after, 'uproll_device_update_seconds_count{outcome="rolled_back"}')).toBeGreaterThanOrEqual(
      1,
    );
    expect(sample(after, 'uproll_nats_connected')).toBe(1);
    expect(sample(after, 'uproll_temporal_connected')).toBe(1);
    expect(after).toContain('# TYPE uproll_devices_failed gauge');
    expect(after).toMatch(/^uproll_telemetry_backlog \d+$/m);
    expect(after).not.toContain(devices[0]!); // no device id is a label
  });
});
