import { WorkflowUpdateFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliInProcess } from '../helpers/cli-in-process.ts';
import { healthCheckSchema, type RolloutPolicyInput } from '../../core/index.ts';
import { SIM_HARDWARE_ID } from '../../sim/index.ts';
import { rolloutHandle, type RolloutHandle } from '../../services/temporal/index.ts';
import { pauseRolloutUpdate, resumeRolloutUpdate, rolloutProgressQuery } from '../../workflows/contracts.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';
import { eventually } from '../helpers/eventually.ts';
import { COMMITTED_UPDATE_EVENTS } from './expected-events.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

const FLEET = 20;
/** Every third device cannot run revisions named `bad-*`: its health check fails on them. */
const failsOnBad = healthCheckSchema.parse({
  command: ['sh', '-c', 'case "$UPROLL_REVISION" in bad-*) exit 1;; esac'],
});

let h: Harness;
let fleet: string[];

beforeAll(async () => {
  h = await startHarness();
  await h.startWorker();
  const prefix = uniqueId('fleet');
  fleet = Array.from({ length: FLEET }, (_, i) => `${prefix}-${String(i).padStart(2, '0')}`);
  for (const [i, deviceId] of fleet.entries())
    await h.startAgent(deviceId, i % 3 === 0 ? { healthCheck: failsOnBad } : {});
}, 120_000);
afterAll(() => h.close());

async function release(prefix: string) {
  const revision = uniqueId(prefix);
  await h.repos.publish(revision, randomArtifacts(2, 8 * 1024), { releaseCounter: 1 });
  return revision;
}

async function progressOf(handle: RolloutHandle) {
  return handle.query(rolloutProgressQuery);
}

/** Devices whose update by `rolloutId` is committed on the event log. */
async function committedOnLog(rolloutId: string, devices: readonly string[]): Promise<number> {
  const committed = await Promise.all(
    devices.map(async (deviceId) =>
      (await h.eventLog.read('device', deviceId)).some(
        ({ event }) =>
          event.type === 'device.update.committed' &&
          (event.data as { rollout?: string }).rollout === rolloutId,
      ),
    ),
  );
  return committed.filter(Boolean).length;
}

async function rolloutEvents(rolloutId: string): Promise<string[]> {
  return (await h.eventLog.read('rollout', rolloutId)).map(({ event }) => event.type);
}

const policy: RolloutPolicyInput = {
  canary: 2,
  waves: { percentages: [25, 100] },
  maxInFlight: 8,
  gate: { minSample: 2, maxFailureRate: 0.5 },
};

describe('rolloutWorkflow', () => {
  it('rolls a healthy release out in waves to every device, each committed once', async () => {
    const revision = await release('good');
    const rolloutId = uniqueId('ro');
    const handle = await h.startRollout({
      rolloutId,
      revision,
      target: { devices: fleet },
      policy,
      startedBy: 'release-manager@test',
    });
    const result = await handle.result();

    expect(result).toEqual({
      rolloutId,
      status: 'completed',
      counts: { committed: FLEET, rolledBack: 0, failed: 0 },
      skipped: 0,
    });
    const progress = await handle.query(rolloutProgressQuery);
    expect(progress.waves.map((w) => [w.size, w.state])).toEqual([
      [2, 'finished'],
      [3, 'finished'],
      [15, 'finished'],
    ]);
    const wave = ['rollout.wave.started', 'rollout.wave.finished', 'rollout.gate.passed'];
    expect(await rolloutEvents(rolloutId)).toEqual([
      'rollout.started',
      ...wave,
      ...wave,
      ...wave,
      'rollout.completed',
    ]);
    for (const deviceId of fleet) {
      const committed = (await h.eventLog.read('device', deviceId))
        .map(({ event }) => event as { type: string; data: { rolloutId: string } })
        .filter((event) => event.type === 'device.update.committed' && event.data.rolloutId === rolloutId);
      expect(committed).toHaveLength(1);
    }
  });

  it('stops at the canary when a third of the devices fail their health check, touching no one else', async () => {
    const revision = await release('bad');
    const rolloutId = uniqueId('ro');
    const handle = await h.startRollout({
      rolloutId,
      revision,
      target: { devices: fleet },
      policy: { ...policy, canary: 6, gate: { minSample: 3, maxFailureRate: 0.1 }, onBreach: 'abort' },
    });
    const result = await handle.result();

    expect(result.status).toBe('aborted');
    expect(result.counts).toEqual({ committed: 4, rolledBack: 2, failed: 0 });
    const events = await rolloutEvents(rolloutId);
    expect(events).toContain('rollout.gate.failed');
    expect(events.filter((type) => type === 'rollout.wave.started')).toHaveLength(1);
    const progress = await handle.query(rolloutProgressQuery);
    expect(progress.failures.map((f) => [f.outcome, f.reason.code])).toEqual([
      ['rolled_back', 'HEALTH_CHECK_FAILED'],
      ['rolled_back', 'HEALTH_CHECK_FAILED'],
    ]);
    for (const deviceId of fleet.slice(6)) {
      const touched = (await h.eventLog.read('device', deviceId)).some(
        ({ event }) => (event.data as { rolloutId?: string }).rolloutId === rolloutId,
      );
      expect(touched).toBe(false);
    }
  });

  it('returns every device it committed to its previous revision when the gate fails with abort_and_rollback', async () => {
    const good = await release('good');
    expect(
      (
        await (
          await h.startRollout({
            rolloutId: uniqueId('ro'),
            revision: good,
            target: { devices: fleet },
            policy,
          })
        ).result()
      ).status,
    ).toBe('completed');
    const bad = await release('bad');
    const handle = await h.startRollout({
      rolloutId: uniqueId('ro'),
      revision: bad,
      target: { devices: fleet },
      policy: {
        ...policy,
        canary: 6,
        gate: { minSample: 3, maxFailureRate: 0.1 },
        onBreach: 'abort_and_rollback',
      },
    });
    const result = await handle.result();

    expect(result).toMatchObject({
      status: 'rolled_back',
      counts: { committed: 0, rolledBack: 6, failed: 0 },
    });
    for (const agent of h.agents.filter((a) => fleet.includes(a.deviceId)))
      expect((await agent.updates.boot.read()).active?.revision).toBe(good);
    const events = await rolloutEvents(handle.workflowId.replace('rollout/', ''));
    expect(events.at(-1)).toBe('rollout.rolled_back');
  });

  it('never lets two rollouts update one device at the same time', async () => {
    const [first, second] = [await release('good'), await release('good')];
    const devices = fleet.slice(0, 6);
    // Both wait for a busy device, so both finish every device; which takes it first is a race.
    const overlapping: RolloutPolicyInput = {
      canary: 2,
      waves: { percentages: [100] },
      maxInFlight: 6,
      overlap: 'wait',
    };
    const a = await h.startRollout({
      rolloutId: uniqueId('ra'),
      revision: first,
      target: { devices },
      policy: overlapping,
    });
    const b = await h.startRollout({
      rolloutId: uniqueId('rb'),
      revision: second,
      target: { devices },
      policy: overlapping,
    });
    const [resultA, resultB] = await Promise.all([a.result(), b.result()]);
    expect(resultA.counts.committed + resultB.counts.committed).toBe(2 * devices.length);
    for (const deviceId of devices) {
      // Each device's updates, in log order: one rollout's started..committed never interleaves with the other's.
      const phases = (await h.eventLog.read('device', deviceId))
        .map(({ event }) => event as { type: string; data: { rolloutId: string } })
        .filter((e) => [resultA.rolloutId, resultB.rolloutId].includes(e.data.rolloutId));
      const owners = phases.map((e) => e.data.rolloutId);
      const switches = owners.filter((owner, i) => i > 0 && owner !== owners[i - 1]).length;
      expect(switches).toBe(1);
    }
  });

  it('gives the release to a device that joins the target hardware while the rollout runs', async () => {
    const revision = await release('good');
    const handle = await h.startRollout({
      rolloutId: uniqueId('ro'),
      revision,
      target: { hardwareId: SIM_HARDWARE_ID },
      policy: { canary: 2, waves: { percentages: [100] }, maxInFlight: 10, gate: { soakMs: 3000 } },
    });
    await eventually('the canary to commit', async () => (await progressOf(handle)).counts.committed >= 2);
    const latecomer = `${fleet[0]}-late`;
    const agent = await h.startAgent(latecomer);
    const result = await handle.result();

    expect(result.counts.committed).toBe(FLEET + 1);
    expect((await agent.updates.boot.read()).active?.revision).toBe(revision);
    expect(await rolloutEvents(result.rolloutId)).toContain('rollout.devices.joined');
  });

  it('finishes every device exactly once when its worker goes away in the middle of a wave', async () => {
    const revision = await release('good');
    const rolloutId = uniqueId('ro');
    const handle = await h.startRollout({
      rolloutId,
      revision,
      target: { devices: fleet },
      policy: { canary: 2, waves: { percentages: [100] }, maxInFlight: 3 },
    });
    await eventually('5 devices to commit', async () => (await progressOf(handle)).counts.committed >= 5);
    await h.stopWorker();
    // Truly in the middle of the second wave: committed devices, and some still to go.
    const committedWhileAway = await committedOnLog(rolloutId, fleet);
    expect(committedWhileAway).toBeGreaterThanOrEqual(5);
    expect(committedWhileAway).toBeLessThan(FLEET);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the worker stays away a while
    await h.startWorker();
    const result = await handle.result();

    expect(result.counts).toEqual({ committed: FLEET, rolledBack: 0, failed: 0 });
    for (const deviceId of fleet) {
      const events = (await h.eventLog.read('device', deviceId))
        .map(({ event }) => event as { type: string; data: { rollout?: string } })
        .filter((event) => event.data.rollout === result.rolloutId);
      expect(events.map((event) => event.type)).toEqual(COMMITTED_UPDATE_EVENTS);
    }
    const wave = ['rollout.wave.started', 'rollout.wave.finished', 'rollout.gate.passed'];
    expect(await rolloutEvents(result.rolloutId)).toEqual([
      'rollout.started',
      ...wave,
      ...wave,
      'rollout.completed',
    ]);
  });

  it('takes over the devices of a rollout that was terminated while it held them', async () => {
    const revision = await release('good');
    const devices = fleet.slice(0, 4);
    const doomed = await h.startRollout({
      rolloutId: uniqueId('ro'),
      revision,
      target: { devices },
      policy: { canary: 4, maxInFlight: 4, gate: { soakMs: 60_000 } },
    });
    await eventually(
      'the canary to be in flight',
      async () => (await progressOf(doomed)).counts.inFlight > 0,
    );
    await doomed.terminate('operator pulled the plug');

    const next = await h.startRollout({
      rolloutId: uniqueId('ro'),
      revision: await release('good'),
      target: { devices },
      policy: { canary: 4, maxInFlight: 4 },
    });
    expect((await next.result()).counts).toEqual({ committed: 4, rolledBack: 0, failed: 0 });
  });

  it('pauses and resumes by command, refusing what does not apply with a reason', async () => {
    const revision = await release('good');
    const rolloutId = uniqueId('ro');
    const handle = await h.startRollout({
      rolloutId,
      revision,
      target: { devices: fleet.slice(0, 4) },
      policy: { canary: 1, waves: { percentages: [100] }, gate: { soakMs: 2000 } },
    });
    await expect(handle.executeUpdate(resumeRolloutUpdate, { args: ['ops'] })).rejects.toThrow(
      WorkflowUpdateFailedError,
    );
    const paused = await handle.executeUpdate(pauseRolloutUpdate, { args: ['ops'] });
    expect(paused.status).toBe('paused');
    const resumed = await rolloutHandle(h.client, rolloutId).executeUpdate(resumeRolloutUpdate, {
      args: ['ops'],
    });
    expect(resumed.status).toBe('running');
    expect((await handle.result()).status).toBe('completed');
    const events = await h.eventLog.read('rollout', rolloutId);
    expect(events.find(({ event }) => event.type === 'rollout.paused')?.event.data).toMatchObject({
      by: 'ops',
    });
  });

  it('refuses a policy or target that does not make sense before starting anything', async () => {
    await expect(
      h.startRollout({
        rolloutId: uniqueId('ro'),
        revision: 'x',
        target: { devices: fleet },
        policy: { gate: { maxFailureRate: 3 } },
      }),
    ).rejects.toThrowWithCode('INVALID_INPUT');
    await expect(
      h.startRollout({ rolloutId: uniqueId('ro'), revision: 'x', target: { devices: [] } }),
    ).rejects.toThrowWithCode('INVALID_INPUT');
  });

  describe('through the release manager CLI', () => {
    /** The repositories the worker uses: start and retry-failed check the revision and devices there. */
    const locations = () => ['--director', h.repos.director.dir, '--repo', h.repos.image.dir];
    const uproll = (...argv: string[]) => runCliInProcess([...argv, '--state-dir', h.stateDir]);

    it('plans, starts, waits for and shows a rollout; refuses what does not apply', async () => {
      const devices = fleet.slice(0, 5).flatMap((d) => ['--device', d]);
      const plan = await uproll(
        'rollout',
        'plan',
        ...devices,
        '--canary',
        '1',
        '--waves',
        '40,100',
        '--director',
        h.repos.director.dir,
      );
      expect(plan).toMatchObject({ status: 0 });
      expect(plan.stdout.split('\n').map((line) => line.split('  ')[0])).toEqual([
        'wave 0 (canary): 1 devices',
        'wave 1: 1 devices',
        'wave 2: 3 devices',
      ]);

      const revision = await release('good');
      const rolloutId = uniqueId('cli');
      const started = await uproll(
        'rollout',
        'start',
        rolloutId,
        '--revision',
        revision,
        ...devices,
        '--canary',
        '1',
        '--wait',
        '--by',
        'rm@test',
        ...locations(),
      );
      expect(started.status, started.stderr).toBe(0);
      expect(started.stdout).toContain('5 committed, 0 rolled back, 0 failed');

      const status = await uproll('rollout', 'status', rolloutId, '--json');
      expect(JSON.parse(status.stdout)).toMatchObject({ status: 'completed', counts: { committed: 5 } });
      const refused = await uproll('rollout', 'pause', rolloutId);
      expect(refused).toMatchObject({
        status: 1,
        stderr: expect.stringContaining('COMMAND_REJECTED') as string,
      });
      const badPolicy = await uproll(
        'rollout',
        'start',
        uniqueId('cli'),
        '--revision',
        revision,
        ...devices,
        '--max-failure-rate',
        '7',
      );
      expect(badPolicy).toMatchObject({
        status: 1,
        stderr: expect.stringContaining('INVALID_INPUT') as string,
      });
      expect(badPolicy.stderr).toContain('gate.maxFailureRate');
      const badWindow = await uproll(
        'rollout',
        'start',
        uniqueId('cli'),
        '--revision',
        revision,
        ...devices,
        '--window',
        '0 25 * * *',
        '--offline',
        'wait',
      );
      expect(badWindow).toMatchObject({ status: 1 });
      expect(badWindow.stderr).toContain('maintenanceWindow.cron: cron hour "25"');
    });

    it('retries the devices that failed in a new rollout, and watches a rollout to its end', async () => {
      const devices = fleet.slice(0, 5).flatMap((d) => ['--device', d]);
      const bad = await release('bad');
      const rolloutId = uniqueId('cli');
      const started = await uproll(
        'rollout',
        'start',
        rolloutId,
        '--revision',
        bad,
        ...devices,
        '--max-failure-rate',
        '1',
        '--wait',
        ...locations(),
      );
      expect(started.stdout).toContain('3 committed, 2 rolled back, 0 failed');

      const watched = await uproll('rollout', 'watch', rolloutId);
      expect(watched.status).toBe(0);
      expect(watched.stdout).toContain('wave 2  [##############################] 2/2');
      expect(watched.stdout).toContain('committed 3  rolled back 2  failed 0');

      const retried = await uproll(
        'rollout',
        'retry-failed',
        rolloutId,
        '--as',
        `${rolloutId}-again`,
        '--max-failure-rate',
        '1',
        '--wait',
        '--json',
        ...locations(),
      );
      expect(retried.status).toBe(0);
      expect(JSON.parse(retried.stdout)).toMatchObject({
        rolloutId: `${rolloutId}-again`,
        counts: { rolledBack: 2 },
      });
    });
  });
});
