import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliInProcess } from '../helpers/cli-in-process.ts';
import { emptyProjections, foldEvents } from '../../services/projections/index.ts';
import { startRollout } from '../../services/temporal/index.ts';
import type { RolloutPolicyInput } from '../../core/index.ts';
import { DeviceLeases } from '../../services/nats/index.ts';
import type { ProtocolFleet } from '../../sim/index.ts';
import type { RolloutResult } from '../../workflows/contracts.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';
import { eventually } from '../helpers/eventually.ts';
import { startFleetOf } from '../helpers/protocol-fleet-rig.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

// A rollback after the end that could not reach a device (it was offline), retried through the
// CLI once the device is back: only that device is asked again, under rollback/<id>/2, with
// events of its own; status and watch show both rollbacks. The worker polls a task queue of this
// file's own, and the CLI starts the rollbacks there (--task-queue), as a deployment's would.
const taskQueue = uniqueId('rollback-retry');
let h: Harness;
let fleet: ProtocolFleet;
let devices: string[];
const offline = new Set<string>();

beforeAll(async () => {
  h = await startHarness({ taskQueue });
  await h.startWorker();
  ({ devices, fleet } = await startFleetOf({
    count: 3,
    prefix: uniqueId('rbr'),
    repos: h.repos,
    stateDir: h.stateDir,
    natsUrl: h.addresses.nats,
    offline: (deviceId) => offline.has(deviceId),
  }));
}, 120_000);
afterAll(async () => {
  await fleet?.stop();
  await h?.close();
});

function control(...argv: string[]) {
  const queue = argv[1] === 'rollback' ? ['--task-queue', taskQueue] : [];
  return runCliInProcess([...argv, ...queue, '--state-dir', h.stateDir]);
}

async function completedRollout(
  releaseCounter: number,
  target: readonly string[] = devices,
  policy: RolloutPolicyInput = { canary: 1 },
): Promise<{ rolloutId: string; revision: string; result: RolloutResult }> {
  const revision = uniqueId('rev');
  await h.repos.publish(revision, randomArtifacts(1, 1024), { releaseCounter });
  const rolloutId = uniqueId('ro');
  const handle = await startRollout(
    h.client,
    { rolloutId, revision, target: { devices: [...target] }, policy },
    { taskQueue },
  );
  const result = await handle.result();
  expect(result).toMatchObject({ status: 'completed' });
  return { rolloutId, revision, result };
}

describe('when a rollback after the end could not reach a device', () => {
  // Two rollouts, a rollback that waits out an unreachable device, and its retry: 36 s on an
  // idle machine, past the 60 s default in the whole suite beside a benchmark.
  it(
    '--retry, once the device is back, returns only that device, with events of its own',
    { timeout: 180_000 },
    async () => {
      const { revision: good } = await completedRollout(1);
      const { rolloutId, revision: bad } = await completedRollout(2);
      const [away] = devices.slice(-1) as [string];

      offline.add(away);
      const first = await control('rollout', 'rollback', rolloutId, '--by', 'rm-alice');
      expect(first.status, first.stderr).toBe(3);
      expect(first.stdout).toContain(`${away}  failed  from ${bad}: DEVICE_UNREACHABLE`);
      expect(devices.map((d) => fleet.revisionOf(d))).toEqual([good, good, bad]);

      // Without --retry it stays refused, and says what --retry would do.
      const again = await control('rollout', 'rollback', rolloutId, '--by', 'rm-bob');
      expect(again.status).toBe(1);
      expect(again.stderr).toMatch(
        /^uproll: ALREADY_ROLLED_BACK: .*; devices not back yet \(busy or failed\): 1, which --retry asks again$/,
      );

      offline.delete(away);
      const retried = await control('rollout', 'rollback', rolloutId, '--retry', '--by', 'rm-bob');
      expect(retried.status, retried.stderr).toBe(0);
      expect(retried.stdout.trim().split('\n')).toEqual([
        `rollout ${rolloutId} rolled back by rm-bob (retry 2): 1 back on their previous revision, 0 unchanged, 0 busy, 0 failed`,
        `  ${away}  rolled_back  from ${bad} (runs ${good})`,
      ]);
      expect(devices.map((d) => fleet.revisionOf(d))).toEqual([good, good, good]);
      const described = await h.client.workflow.getHandle(`rollback/${rolloutId}/2`).describe();
      expect(described).toMatchObject({ status: { name: 'COMPLETED' }, taskQueue });

      const events = (await h.eventLog.read('rollout', rolloutId)).map(({ event }) => event);
      const retryEvents = events.filter((e) => (e.data as { attempt?: number }).attempt === 2);
      expect(retryEvents.map((e) => [e.type, (e.data as { by: string }).by])).toEqual([
        ['rollout.rollback.started', 'rm-bob'],
        ['rollout.rollback.device', 'rm-bob'],
        ['rollout.rollback.finished', 'rm-bob'],
      ]);
      expect(retryEvents[1]?.data).toMatchObject({ deviceId: away, outcome: 'rolled_back', runs: good });
      expect(events.filter((e) => e.type === 'rollout.rollback.started')).toHaveLength(2);

      // The projection counts every device once, by its latest outcome.
      const projected = foldEvents(emptyProjections(), await h.eventLog.read('rollout', rolloutId));
      expect(projected.rollouts[rolloutId]).toMatchObject({
        status: 'rolled_back',
        rolledBackBy: 'rm-bob',
        rollbackCounts: { rolled_back: 3, unchanged: 0, busy: 0, failed: 0 },
      });

      const status = await control('rollout', 'status', rolloutId);
      expect(status.status, status.stderr).toBe(0);
      expect(status.stdout).toMatch(
        /rolled back after it ended, by rm-alice at \S+: 2 back on their previous revision, 0 unchanged, 0 busy, 1 failed\n {2}rollback retry 2, by rm-bob at \S+: 1 back on their previous revision/,
      );
      const json = JSON.parse((await control('rollout', 'status', rolloutId, '--json')).stdout) as unknown;
      expect(json).toMatchObject({ rollback: { attempt: 2, by: 'rm-bob', state: 'finished', notBack: [] } });

      const watched = await control('rollout', 'watch', rolloutId);
      expect(watched.stdout).toMatch(/rollout\.rollback\.started +by rm-bob: retry 2: 1 devices to return/);
      expect(watched.stdout).toMatch(/rollout\.rollback\.finished +by rm-bob: retry 2: 1 rolled back/);

      // Every device is back: a further retry has nothing to do, and changes nothing.
      const nothing = await control('rollout', 'rollback', rolloutId, '--retry', '--by', 'rm-bob');
      expect(nothing.status).toBe(1);
      expect(nothing.stderr).toMatch(
        /^uproll: ALREADY_ROLLED_BACK: every device of rollout \S+ is back .*nothing to retry/,
      );
      expect((await h.eventLog.read('rollout', rolloutId)).length).toBe(events.length);
    },
  );
});

describe('when a rollout was not rolled back after it ended', () => {
  it('--retry is refused: there is nothing to retry', async () => {
    const { rolloutId } = await completedRollout(3);
    const refused = await control('rollout', 'rollback', rolloutId, '--retry', '--by', 'rm-bob');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^uproll: INVALID_INPUT: rollout \S+ was not rolled back after it ended/);
    expect((await h.eventLog.read('rollout', rolloutId)).map(({ event }) => event.type)).not.toContain(
      'rollout.rollback.started',
    );
  });
});

describe('while a rollback retry runs', () => {
  it(
    'holds its devices as the first rollback does: another rollout skips them',
    { timeout: 180_000 },
    async () => {
      const [device] = devices as [string];
      await completedRollout(4, [device]);
      const { rolloutId, revision: bad } = await completedRollout(5, [device]);
      offline.add(device);
      try {
        expect((await control('rollout', 'rollback', rolloutId, '--by', 'rm-alice')).status).toBe(3);

        // Still away: the retry holds the device while it asks it, and a rollout started meanwhile
        // skips it (the retry's rollout is active, though its first rollback ended).
        const retrying = control('rollout', 'rollback', rolloutId, '--retry', '--by', 'rm-bob');
        const leases = new DeviceLeases(h.nc);
        await eventually(
          'the retry to hold the device',
          async () => (await leases.holder(device)) === rolloutId,
        );
        const other = await completedRollout(6, [device], { offline: { afterMs: 2000 } });
        expect(other.result).toMatchObject({ skipped: 1 });

        const retried = await retrying;
        expect(retried.status, retried.stderr).toBe(3);
        expect(retried.stdout).toContain(`${device}  failed  from ${bad}: DEVICE_UNREACHABLE`);
        expect(fleet.revisionOf(device)).toBe(bad);
      } finally {
        offline.delete(device);
      }
    },
  );
});
