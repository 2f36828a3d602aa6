import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliInProcess } from '../helpers/cli-in-process.ts';
import type { DomainEvent, RolloutPolicyInput } from '../../core/index.ts';
import { DeviceLeases } from '../../services/nats/index.ts';
import { emptyProjections, foldEvents } from '../../services/projections/index.ts';
import type { ProtocolFleet } from '../../sim/index.ts';
import type { RolloutResult } from '../../workflows/contracts.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';
import { eventually } from '../helpers/eventually.ts';
import { startFleetOf } from '../helpers/protocol-fleet-rig.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

// The rollback of a rollout that has ended, through the CLI, on
// protocol-level simulated devices against the real Temporal, NATS and Director.
let h: Harness;
let fleet: ProtocolFleet;
let devices: string[];
/** Revisions whose health check fails on the sixth device. */
const crashing = new Set<string>();

beforeAll(async () => {
  h = await startHarness();
  await h.startWorker();
  ({ devices, fleet } = await startFleetOf({
    count: 6,
    prefix: uniqueId('rbe'),
    repos: h.repos,
    stateDir: h.stateDir,
    natsUrl: h.addresses.nats,
    unhealthy: (deviceId, revision) => crashing.has(revision) && deviceId === devices[5],
  }));
}, 120_000);
afterAll(async () => {
  await fleet?.stop();
  await h?.close();
});

const control = (...argv: string[]) => runCliInProcess([...argv, '--state-dir', h.stateDir]);

/** A released revision, rolled out to `target` until it ended; returns the rollout's id. */
async function rollOut(
  revision: string,
  target: readonly string[],
  policy: RolloutPolicyInput = {},
  ended: Partial<RolloutResult> = {
    status: 'completed',
    counts: { committed: target.length, rolledBack: 0, failed: 0 },
  },
): Promise<string> {
  const rolloutId = uniqueId('ro');
  const handle = await h.startRollout({
    rolloutId,
    revision,
    target: { devices: [...target] },
    policy: { canary: 1, ...policy },
  });
  expect(await handle.result()).toMatchObject(ended);
  return rolloutId;
}

async function release(prefix: string, releaseCounter: number): Promise<string> {
  const revision = uniqueId(prefix);
  await h.repos.publish(revision, randomArtifacts(1, 1024), { releaseCounter });
  return revision;
}

async function rolloutEvents(rolloutId: string): Promise<string[]> {
  return (await h.eventLog.read('rollout', rolloutId)).map(({ event }) => event.type);
}

describe('when a rollout has completed', () => {
  it('rollback returns every device it left on its revision to the one before, once', async () => {
    const four = devices.slice(0, 4);
    const good = await release('good', 1);
    await rollOut(good, four);
    const bad = await release('bad', 2);
    const rolloutId = await rollOut(bad, four);
    // One device has moved on since: the rollback leaves it alone.
    const [movedOn] = four.slice(-1) as [string];
    const newer = await release('newer', 3);
    await rollOut(newer, [movedOn]);

    const rolledBack = await control('rollout', 'rollback', rolloutId, '--by', 'rm-alice');

    expect(rolledBack.status, rolledBack.stderr).toBe(0);
    expect(rolledBack.stdout.split('\n')[0]).toBe(
      `rollout ${rolloutId} rolled back by rm-alice: 3 back on their previous revision, 1 unchanged, 0 busy, 0 failed`,
    );
    expect(rolledBack.stdout).toContain(`${movedOn}  unchanged  from ${bad} (runs ${newer})`);
    expect(four.map((d) => fleet.revisionOf(d))).toEqual([good, good, good, newer]);
    const types = await rolloutEvents(rolloutId);
    const count = (type: string) => types.filter((t) => t === type).length;
    expect([
      count('rollout.rollback.started'),
      count('rollout.rollback.device'),
      count('rollout.rollback.finished'),
    ]).toEqual([1, 4, 1]);
    const started = (await h.eventLog.read('rollout', rolloutId)).find(
      ({ event }) => event.type === 'rollout.rollback.started',
    );
    expect(started?.event.data).toEqual({ by: 'rm-alice', devices: 4 });
    const first = (await h.eventLog.read('rollout', rolloutId)).find(
      ({ event }) =>
        event.type === 'rollout.rollback.device' &&
        (event.data as { deviceId?: string }).deviceId === four[0],
    );
    // Where the log said it was before, and where the device says it went.
    expect(first?.event.data).toEqual({
      by: 'rm-alice',
      deviceId: four[0],
      outcome: 'rolled_back',
      from: bad,
      previous: good,
      runs: good,
    });

    // The rollout projection, folded from the events as they are on the log.
    const projected = foldEvents(emptyProjections(), await h.eventLog.read('rollout', rolloutId));
    expect(projected.rollouts[rolloutId]).toMatchObject({
      status: 'rolled_back',
      rolledBackBy: 'rm-alice',
      rollbackCounts: { rolled_back: 3, unchanged: 1, busy: 0, failed: 0 },
    });

    const status = await control('rollout', 'status', rolloutId);
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout.split('\n')[0]).toBe(`rollout ${rolloutId} of ${bad}: rolled_back`);
    expect(status.stdout).toMatch(
      /rolled back after it ended, by rm-alice at \S+: 3 back on their previous revision, 1 unchanged/,
    );
    const json = JSON.parse((await control('rollout', 'status', rolloutId, '--json')).stdout) as unknown;
    expect(json).toMatchObject({ status: 'rolled_back', rollback: { by: 'rm-alice', state: 'finished' } });

    // A second rollback is refused and changes nothing.
    const again = await control('rollout', 'rollback', rolloutId, '--by', 'rm-bob');
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(
      new RegExp(
        `^uproll: ALREADY_ROLLED_BACK: rollout ${rolloutId} was rolled back after it ended, by rm-alice`,
      ),
    );
    expect(await rolloutEvents(rolloutId)).toEqual(types);
    expect(four.map((d) => fleet.revisionOf(d))).toEqual([good, good, good, newer]);
  });
});

describe('when the rollout rolled its devices back itself before it ended', () => {
  it('rollback is refused: there is nothing left to roll back', async () => {
    const two = devices.slice(4, 6);
    const good = await release('good', 1);
    await rollOut(good, two);
    const crashy = await release('crashy', 2);
    crashing.add(crashy);
    const rolloutId = await rollOut(
      crashy,
      two,
      { waves: { percentages: [100] }, gate: { maxFailureRate: 0.1 }, onBreach: 'abort_and_rollback' },
      { status: 'rolled_back', counts: { committed: 0, rolledBack: 2, failed: 0 } },
    );

    const again = await control('rollout', 'rollback', rolloutId, '--by', 'rm-alice');
    expect(again.status).toBe(1);
    expect(again.stderr).toBe(
      `uproll: ALREADY_ROLLED_BACK: rollout ${rolloutId} ended rolled back: its devices went back to their previous revision then`,
    );
    expect(await rolloutEvents(rolloutId)).not.toContain('rollout.rollback.started');
    expect(two.map((d) => fleet.revisionOf(d))).toEqual([good, good]);
  });
});

describe('while a rollback after the end runs', () => {
  it(
    'holds its devices: another rollout skips them; one that does not answer is reported failed (exit 3)',
    {
      timeout: 120_000,
    },
    async () => {
      // A rollout only the event log knows (Temporal forgot it: past its retention), which
      // committed a device that no longer answers.
      const rolloutId = uniqueId('logonly');
      const ghost = uniqueId('ghost');
      await h.repos.enroll(ghost);
      const append = (event: DomainEvent) =>
        h.eventLog.append(event, { msgId: `${event.aggregateId}/${event.type}` });
      const at = new Date().toISOString();
      await append({ aggregate: 'rollout', aggregateId: rolloutId, type: 'rollout.started', at, data: {} });
      await append({
        aggregate: 'device',
        aggregateId: ghost,
        type: 'device.update.committed',
        at,
        data: {
          rolloutId,
          rollout: rolloutId,
          revision: 'rev-ghost',
          workflowId: `device-update/${ghost}/${rolloutId}`,
        },
      });
      await append({ aggregate: 'rollout', aggregateId: rolloutId, type: 'rollout.completed', at, data: {} });

      const running = control('rollout', 'rollback', rolloutId, '--by', 'rm-alice');
      const leases = new DeviceLeases(h.nc);
      await eventually(
        'the rollback to hold the device',
        async () => (await leases.holder(ghost)) === rolloutId,
      );
      const other = await h.startRollout({
        rolloutId: uniqueId('other'),
        revision: await release('other', 1),
        target: { devices: [ghost] },
        policy: { offline: { afterMs: 2000 } },
      });
      expect(await other.result()).toMatchObject({ status: 'completed', skipped: 1 });
      expect(await leases.holder(ghost)).toBe(rolloutId);

      const done = await running;
      expect(done.status, done.stderr).toBe(3);
      expect(done.stdout).toContain(`${ghost}  failed  from rev-ghost: DEVICE_UNREACHABLE`);
      expect(await leases.holder(ghost)).toBeUndefined();
    },
  );
});

describe('when the rollout was never started', () => {
  it('rollback says so with a code', async () => {
    const rolledBack = await control('rollout', 'rollback', uniqueId('nosuch'), '--by', 'rm-alice');
    expect(rolledBack.status).toBe(1);
    expect(rolledBack.stderr).toMatch(/^uproll: ROLLOUT_NOT_FOUND: rollout nosuch-\S+ does not exist/);
  });
});
