import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DeviceUpdateHandle } from '../../services/temporal/index.ts';
import type { ProtocolFleet } from '../../sim/index.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';
import { startFleetOf } from '../helpers/protocol-fleet-rig.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

// Each step of a device update has a time limit, kept with one timer at a
// time (re-armed when it fires, never cancelled). Devices simulated at the
// protocol level take their time, or stall, where each test says.
const SECOND = 1000;
/** Short limits: the shortest (1 s) is how often a long step's timer is re-armed. */
const LIMITS = { download: 6 * SECOND, install: SECOND, verdict: SECOND, report: SECOND };

let h: Harness;
let fleet: ProtocolFleet;
let devices: string[];
/** Device 0 downloads for 2.5 s, 1 stalls after downloading, 2 commits but never sends its version report, 3 is quick. */
const [SLOW, STALLS, SILENT, QUICK] = [0, 1, 2, 3];

beforeAll(async () => {
  h = await startHarness();
  await h.startWorker();
  ({ devices, fleet } = await startFleetOf({
    count: 4,
    prefix: uniqueId('limits'),
    repos: h.repos,
    stateDir: h.stateDir,
    natsUrl: h.addresses.nats,
    delayMs: (deviceId, step) => {
      const index = devices.indexOf(deviceId);
      if (index === SLOW && step === 'downloaded') return 2.5 * SECOND;
      if (index === STALLS && step === 'verified') return Number.POSITIVE_INFINITY;
      // Its `committed` comes on its own, after `healthy` was recorded.
      if (index === SILENT && step === 'committed') return 300;
      if (index === SILENT && step === 'manifest') return Number.POSITIVE_INFINITY;
      return 0;
    },
  }));
}, 60_000);
afterAll(async () => {
  await fleet?.stop();
  await h?.close();
});

async function update(index: number): Promise<DeviceUpdateHandle> {
  const revision = uniqueId('limited');
  await h.repos.publish(revision, randomArtifacts(1, 1024), { releaseCounter: 1 });
  return h.startDeviceUpdate({
    deviceId: devices[index]!,
    command: { rolloutId: uniqueId('r'), revision },
    phaseTimeouts: LIMITS,
  });
}

async function failureOf(handle: DeviceUpdateHandle): Promise<ApplicationFailure> {
  const err = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  return (err as WorkflowFailedError).cause as ApplicationFailure;
}

async function timerEvents(handle: DeviceUpdateHandle): Promise<{ started: number; cancelled: number }> {
  const history = await handle.fetchHistory();
  const events = history.events ?? [];
  return {
    started: events.filter((e) => e.timerStartedEventAttributes).length,
    cancelled: events.filter((e) => e.timerCanceledEventAttributes).length,
  };
}

async function updateEvents(index: number): Promise<string[]> {
  return (await h.eventLog.read('device', devices[index]!))
    .map(({ event }) => event.type)
    .filter((type) => type.startsWith('device.update.'));
}

describe('the time limit of each step of a device update', () => {
  it('costs a device that moves on quickly one timer, never cancelled', async () => {
    const handle = await update(QUICK);

    expect((await handle.result()).outcome).toBe('committed');
    expect(await timerEvents(handle)).toEqual({ started: 1, cancelled: 0 });
  });

  it('lets a step run for its own limit, longer than the shortest one', async () => {
    const handle = await update(SLOW);

    expect((await handle.result()).outcome).toBe('committed');
    // Re-armed every second or so while the 2.5 s download ran.
    expect((await timerEvents(handle)).started).toBeGreaterThanOrEqual(3);
  });

  it('fails a device that stops reporting with PHASE_TIMEOUT, naming the step', async () => {
    const failure = await failureOf(await update(STALLS));

    expect(failure.type).toBe('PHASE_TIMEOUT');
    expect(failure.message).toContain('did not finish the install step within 1 second');
    expect(await updateEvents(STALLS)).toEqual([
      'device.update.started',
      'device.update.commanded',
      'device.update.downloaded',
      'device.update.failed',
    ]);
  });

  it('fails a commit whose signed version report never comes with VERSION_REPORT_MISSING', async () => {
    const failure = await failureOf(await update(SILENT));

    expect(failure.type).toBe('VERSION_REPORT_MISSING');
    expect(failure.message).toContain('within 1 second');
    expect((await updateEvents(SILENT)).at(-1)).toBe('device.update.failed');
  });
});
