import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetServices } from '../../cli/fleet-services.ts';
import { readEvents, readProjections } from '../../services/projections/index.ts';
import { startRollback, startRollout } from '../../services/temporal/index.ts';
import { SIM_HARDWARE_ID, type ProtocolFleet, type SimulatedRepositories } from '../../sim/index.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';
import { eventually } from '../helpers/eventually.ts';
import { loweredTemporalLimits } from '../helpers/lowered-temporal-limits.ts';
import { startFleetOf } from '../helpers/protocol-fleet-rig.ts';
import { resultUnlessStuck } from '../helpers/workflow-end.ts';
import { COMMITTED_UPDATE_EVENTS } from './expected-events.ts';
import { startOwnStack } from './own-stack.ts';

// Issue 16: a fleet of 100,000 devices in waves of 10/50/100% has waves of
// 40,000-50,000 devices, past Temporal's 51,200-event history limit, and a
// rollout state that carries every device's record passes the 2 MB payload
// limit. Here a dev server of its own has every history and payload limit
// 50 times lower, and one wave of 500 devices meets them as a wave of 25,000
// meets the real ones: the rollout finishes only if it continues as new
// inside the wave, carrying a state that stays small (a record per device,
// with ids as long as a serial number, passes the payload limit two thirds
// into the wave). The target is a hardware id, so no device list travels in
// the input. 500 devices keep the file at 25-90 s on two loaded cores.
const LOWERED_BY = 50;
const LIMITS = loweredTemporalLimits(LOWERED_BY);
const FLEET = 500;
const DEVICE_ID_PREFIX = 'fleet-at-scale-device';
const POLICY = { canary: 1, waves: { percentages: [100] }, maxInFlight: 25 };
/** The fewest events one device update adds to the rollout's history: child initiated, started, completed. */
const MIN_EVENTS_PER_CHILD = 3;
/** The fewest events one device's rollback adds: acquire, command, its event, release, three events each. */
const MIN_EVENTS_PER_ROLLBACK = 12;

let own: Awaited<ReturnType<typeof startOwnStack>>;
let repos: SimulatedRepositories;
let services: FleetServices;
let fleet: ProtocolFleet;
let devices: string[];
/** Update commands each device accepted as new (a repeated command it answers as a duplicate). */
const installs = new Map<string, number>();

beforeAll(async () => {
  own = await startOwnStack('rollout-at-scale', { temporalDynamicConfig: LIMITS });
  ({ repos, services } = own);
  ({ devices, fleet } = await startFleetOf({
    count: FLEET,
    prefix: DEVICE_ID_PREFIX,
    repos,
    stateDir: own.stateDir,
    natsUrl: services.addresses.nats,
    observer: { commanded: (deviceId) => installs.set(deviceId, (installs.get(deviceId) ?? 0) + 1) },
  }));
}, 120_000);
afterAll(async () => {
  await fleet?.stop();
  await own?.close();
});

describe(`a rollout whose one big wave outgrows Temporal's history limits (${LOWERED_BY} times lower)`, () => {
  it('continues as new inside the wave and finishes with every device updated exactly once', async () => {
    const [canary, wave] = [POLICY.canary, FLEET - POLICY.canary];
    // Why it must continue as new inside the wave: the wave alone would pass the history limit.
    expect(wave * MIN_EVENTS_PER_CHILD).toBeGreaterThan(LIMITS['limit.historyCount.error']);

    const revision = 'scale-2.0';
    const rolloutId = 'at-scale';
    const handle = await rollOut(rolloutId, revision, 1, POLICY);
    const result = await resultUnlessStuck(handle, { timeoutMs: 180_000 });

    expect(result).toEqual({
      rolloutId,
      status: 'completed',
      counts: { committed: FLEET, rolledBack: 0, failed: 0 },
      skipped: 0,
    });
    // The devices' side: each accepted one update command and runs the revision.
    expect(fleet.counts).toMatchObject({ rejected: 0, lost: 0 });
    expect(devices.filter((deviceId) => installs.get(deviceId) !== 1)).toEqual([]);
    expect(devices.filter((deviceId) => fleet.revisionOf(deviceId) !== revision)).toEqual([]);

    // The event log: each device's update once, in order; the rollout's waves once each.
    const deviceEvents = new Map<string, string[]>();
    for await (const { event } of readEvents(services.nc, { filter: 'uproll.evt.device.>' })) {
      if (!event.type.startsWith('device.update.')) continue;
      deviceEvents.set(event.aggregateId, [...(deviceEvents.get(event.aggregateId) ?? []), event.type]);
    }
    expect(
      devices.filter(
        (deviceId) => JSON.stringify(deviceEvents.get(deviceId)) !== JSON.stringify(COMMITTED_UPDATE_EVENTS),
      ),
    ).toEqual([]);
    const rolloutEvents = (await services.eventLog.read('rollout', rolloutId)).map(({ event }) => event.type);
    const waveEvents = ['rollout.wave.started', 'rollout.wave.finished', 'rollout.gate.passed'];
    expect(rolloutEvents).toEqual(['rollout.started', ...waveEvents, ...waveEvents, 'rollout.completed']);

    // The projections: the rollout as it reported itself, every device on the revision.
    await eventually('the projections to show the completed rollout', async () => {
      const { rollouts, devices: views } = await readProjections(services.nc);
      expect(rollouts[rolloutId]).toMatchObject({
        status: 'completed',
        waves: [canary, wave],
        wavesFinished: 2,
        counts: { committed: FLEET, rolledBack: 0, failed: 0 },
      });
      expect(devices.filter((deviceId) => views[deviceId]?.committedRevision !== revision)).toEqual([]);
      return true;
    });

    // Temporal's side: the rollout ran as a chain of runs, more of them than
    // waves, so at least one run handed over in the middle of the big wave.
    const runs = await runStatusesOf(handle.workflowId);
    expect(runs.filter((status) => status === 'CONTINUED_AS_NEW').length).toBeGreaterThan(1);
    const { runId, raw } = await handle.describe();
    expect(raw.workflowExecutionInfo?.firstRunId).toEqual(expect.any(String));
    expect(runId).not.toBe(raw.workflowExecutionInfo?.firstRunId);
  }, 240_000);

  it('rolls a later rollout of the fleet back: continuing as new, every device back on its revision before, once', async () => {
    const before = 'scale-2.0'; // the test above put every device there
    const revision = 'scale-3.0';
    const rolloutId = 'at-scale-later';
    const rollout = await rollOut(rolloutId, revision, 2, { ...POLICY, maxInFlight: 50 });
    expect(await resultUnlessStuck(rollout, { timeoutMs: 180_000 })).toMatchObject({
      status: 'completed',
      counts: { committed: FLEET },
    });

    // Why it must continue as new: one run would pass the history limit; one result the payload limit.
    expect(FLEET * MIN_EVENTS_PER_ROLLBACK).toBeGreaterThan(LIMITS['limit.historyCount.error']);
    const handle = await startRollback(services.client, { rolloutId, by: 'rm-scale' });
    const result = await resultUnlessStuck(handle, { timeoutMs: 180_000 });

    expect(result.counts).toEqual({ rolled_back: FLEET, unchanged: 0, busy: 0, failed: 0 });
    // Its result stays small: a bounded list, the rest counted.
    expect(result.devices).toHaveLength(100);
    expect(result.unlisted).toBe(FLEET - 100);
    expect(devices.filter((deviceId) => fleet.revisionOf(deviceId) !== before)).toEqual([]);
    // The event log: one rollback event per device on the rollout, one rolled_back per device.
    const rollbackEvents = (await services.eventLog.read('rollout', rolloutId))
      .map(({ event }) => event)
      .filter(({ type }) => type.startsWith('rollout.rollback.'));
    const perDevice = new Map<string, number>();
    for (const { type, data } of rollbackEvents)
      if (type === 'rollout.rollback.device') {
        const { deviceId } = data as { deviceId: string };
        perDevice.set(deviceId, (perDevice.get(deviceId) ?? 0) + 1);
      }
    expect(devices.filter((deviceId) => perDevice.get(deviceId) !== 1)).toEqual([]);
    expect(
      rollbackEvents.filter(({ type }) => type !== 'rollout.rollback.device').map(({ type }) => type),
    ).toEqual(['rollout.rollback.started', 'rollout.rollback.finished']);
    const backByCommand = new Map<string, number>();
    for await (const { event } of readEvents(services.nc, { filter: 'uproll.evt.device.>' }))
      if (
        event.type === 'device.update.rolled_back' &&
        (event.data as { rollout?: string }).rollout === rolloutId
      )
        backByCommand.set(event.aggregateId, (backByCommand.get(event.aggregateId) ?? 0) + 1);
    expect(devices.filter((deviceId) => backByCommand.get(deviceId) !== 1)).toEqual([]);

    // Temporal's side: the rollback ran as a chain of runs.
    const runs = await runStatusesOf(handle.workflowId);
    expect(runs.filter((status) => status === 'CONTINUED_AS_NEW').length).toBeGreaterThan(0);
  }, 420_000);
});

/** Publishes `revision` and rolls it out to the whole fleet (its hardware id). */
async function rollOut(rolloutId: string, revision: string, releaseCounter: number, policy: typeof POLICY) {
  await repos.publish(revision, randomArtifacts(1, 1024), { releaseCounter });
  return startRollout(services.client, {
    rolloutId,
    revision,
    target: { hardwareId: SIM_HARDWARE_ID },
    policy,
  });
}

/** The status of each run of a workflow, once the last has completed. */
function runStatusesOf(workflowId: string): Promise<string[]> {
  return eventually(`every run of ${workflowId} to be listed`, async () => {
    const listed: string[] = [];
    for await (const run of services.client.workflow.list({ query: `WorkflowId = '${workflowId}'` }))
      listed.push(run.status.name);
    return listed.includes('COMPLETED') && listed;
  });
}
