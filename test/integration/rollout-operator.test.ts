import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliInProcess } from '../helpers/cli-in-process.ts';
import { DeviceLeases } from '../../services/nats/index.ts';
import { rolloutHandle } from '../../services/temporal/index.ts';
import type { ProtocolFleet } from '../../sim/index.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';
import { eventually } from '../helpers/eventually.ts';
import { startFleetOf } from '../helpers/protocol-fleet-rig.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

// An operator's rollouts through the CLI, on protocol-level simulated devices
// against the real Temporal, NATS, Director and report listener.
let h: Harness;
let fleet: ProtocolFleet;
let devices: string[];
/** Which devices fail their health check on which revision. */
const failing = new Map<string, ReadonlySet<string>>();
/** Devices that stall after accepting a command, holding their rollout's lease. */
const stalled = new Set<string>();

beforeAll(async () => {
  h = await startHarness();
  await h.startWorker();
  ({ devices, fleet } = await startFleetOf({
    count: 10,
    prefix: uniqueId('op'),
    repos: h.repos,
    stateDir: h.stateDir,
    natsUrl: h.addresses.nats,
    unhealthy: (deviceId, revision) => failing.get(revision)?.has(deviceId) ?? false,
    delayMs: (deviceId, step) => (stalled.has(deviceId) && step === 'downloaded' ? Infinity : 0),
  }));
}, 120_000);
afterAll(async () => {
  await fleet?.stop();
  await h?.close();
});

const uproll = (...argv: string[]) =>
  runCliInProcess([
    ...argv,
    '--state-dir',
    h.stateDir,
    '--director',
    h.repos.director.dir,
    '--repo',
    h.repos.image.dir,
  ]);

/** `rollout abort`, `resume` etc. take no location options. */
const control = (...argv: string[]) => runCliInProcess([...argv, '--state-dir', h.stateDir]);

async function release(prefix: string, failingOn: readonly string[] = []): Promise<string> {
  const revision = uniqueId(prefix);
  failing.set(revision, new Set(failingOn));
  await h.repos.publish(revision, randomArtifacts(1, 1024), { releaseCounter: 1 });
  return revision;
}

/**
 * Six devices in waves of 1, 2 and 3 (canary, 50%, 100%); the release fails
 * on the three of the last wave. `start --wait` follows it to its pause.
 */
async function startFailingOnLastWave() {
  const six = devices.slice(0, 6);
  const revision = await release('lastbad', six.slice(3));
  const rolloutId = uniqueId('last');
  const started = await uproll(
    'rollout',
    'start',
    rolloutId,
    '--revision',
    revision,
    ...six.flatMap((d) => ['--device', d]),
    '--canary',
    '1',
    '--waves',
    '50,100',
    '--max-failure-rate',
    '0.1',
    '--wait',
  );
  return { rolloutId, started, handle: rolloutHandle(h.client, rolloutId) };
}

async function rolloutEvents(rolloutId: string): Promise<string[]> {
  return (await h.eventLog.read('rollout', rolloutId)).map(({ event }) => event.type);
}

describe('when the gate fails on the last wave', () => {
  it('the rollout stays paused, and --wait says every step and why it paused (exit 4)', async () => {
    const { rolloutId, started, handle } = await startFailingOnLastWave();

    expect(started.status, started.stderr).toBe(4);
    const types = started.stdout
      .split('\n')
      .map((line) => /\s(rollout\.\S+)/.exec(line)?.[1])
      .filter(Boolean);
    const wave = ['rollout.wave.started', 'rollout.wave.finished'];
    expect(types).toEqual([
      'rollout.started',
      ...wave,
      'rollout.gate.passed',
      ...wave,
      'rollout.gate.passed',
      ...wave,
      'rollout.gate.failed',
      'rollout.paused',
    ]);
    expect(started.stdout).toContain('wave 2: 3 of 6 devices failed or rolled back (50.0%)');
    expect(started.stdout).toContain('3 committed, 3 rolled back, 0 failed');
    expect(started.stdout.split('\n').at(-1)).toBe(
      `rollout ${rolloutId} is paused: by gate: 3 of 6 devices failed or rolled back (50.0%), over the 10.0% the policy allows; resume, abort or rollback it`,
    );
    const status = await control('rollout', 'status', rolloutId, '--json');
    expect(JSON.parse(status.stdout)).toMatchObject({ status: 'paused' });
    const watched = await control('rollout', 'watch', rolloutId);
    expect(watched.status).toBe(4);
    expect(watched.stdout.split('\n').at(-1)).toBe(started.stdout.split('\n').at(-1));
    // Still running on Temporal, waiting for a person: not ended as if aborted.
    expect((await handle.describe()).status.name).toBe('RUNNING');
    expect(await rolloutEvents(rolloutId)).not.toContain('rollout.aborted');
    await handle.terminate('test over');
  });

  it('resume finishes it, and watch follows it to completed (exit 0)', async () => {
    const { rolloutId, handle } = await startFailingOnLastWave();

    const resumed = await control('rollout', 'resume', rolloutId, '--by', 'ops');
    expect(resumed.status, resumed.stderr).toBe(0);
    const watched = await control('rollout', 'watch', rolloutId);
    expect(watched.status, watched.stderr).toBe(0);
    expect(watched.stdout).toMatch(/rollout\.resumed\s+by ops/);
    expect(watched.stdout).toMatch(/rollout\.completed\s+3 committed, 3 rolled back, 0 failed/);
    expect(watched.stdout.split('\n').at(-1)).toBe(`rollout ${rolloutId} completed`);
    expect(await handle.result()).toMatchObject({ status: 'completed', skipped: 0 });
  });

  it('abort ends it, and watch says so with the reason (exit 5)', async () => {
    const { rolloutId, handle } = await startFailingOnLastWave();

    const aborted = await control('rollout', 'abort', rolloutId, '--by', 'ops');
    expect(aborted.status, aborted.stderr).toBe(0);
    expect((await handle.result()).status).toBe('aborted');
    const watched = await control('rollout', 'watch', rolloutId);
    expect(watched.status).toBe(5);
    expect(watched.stdout.split('\n').at(-1)).toBe(
      `rollout ${rolloutId} ended aborted: by ops: aborted by command`,
    );
  });

  it('rollback returns the devices it committed to their previous revision', async () => {
    const { rolloutId, handle } = await startFailingOnLastWave();

    const rolledBack = await control('rollout', 'rollback', rolloutId, '--by', 'ops');
    expect(rolledBack.status, rolledBack.stderr).toBe(0);
    // It answers once the devices are back, not as the rollout is aborted (a new user saw them
    // still on the new revision for 20 s after the command said it was done).
    expect(rolledBack.stdout).toBe(
      `rollout ${rolloutId} ended rolled_back: 6 rolled back, 0 committed, 0 failed`,
    );
    expect(await handle.result()).toMatchObject({
      status: 'rolled_back',
      counts: { committed: 0, rolledBack: 6, failed: 0 },
    });
    const progress = JSON.parse((await control('rollout', 'status', rolloutId, '--json')).stdout) as {
      failures: { reason: { code: string } }[];
    };
    expect(progress.failures.filter((f) => f.reason.code === 'ROLLED_BACK_BY_COMMAND')).toHaveLength(3);
  });
});

describe('when a rollout is aborted or rolled back during its soak', () => {
  // A soak of an hour: the test's own limit would end long before it did.
  const soaking = async (prefix: string) => {
    const two = devices.slice(6, 8);
    await h.rollOutFirstRevision(two); // what a rollback returns them to
    const rolloutId = uniqueId(prefix);
    const handle = await h.startRollout({
      rolloutId,
      revision: await release(`${prefix}rev`),
      target: { devices: two },
      policy: { canary: 1, waves: { percentages: [100] }, gate: { soakMs: 3_600_000 } },
      startedBy: 'ops',
    });
    await eventually('the canary committed, soaking', async () => {
      const events = await h.eventLog.read('rollout', rolloutId);
      return events.some((e) => e.event.type === 'rollout.wave.finished');
    });
    return { rolloutId, handle };
  };

  it('abort ends it now, not when the soak is over', async () => {
    const { rolloutId, handle } = await soaking('soakabort');
    expect((await control('rollout', 'abort', rolloutId, '--by', 'ops')).status).toBe(0);
    expect(await handle.result()).toMatchObject({ status: 'aborted', counts: { committed: 1 } });
  });

  it('rollback returns the canary now, not when the soak is over', async () => {
    const { rolloutId } = await soaking('soakrb');
    const rolledBack = await control('rollout', 'rollback', rolloutId, '--by', 'ops');
    expect(rolledBack.stdout).toContain(`rollout ${rolloutId} ended rolled_back: 1 rolled back`);
    expect(rolledBack.status).toBe(0);
  });
});

describe('when a rollout id was used before', () => {
  it('is refused with ROLLOUT_EXISTS, even after that rollout ended', async () => {
    const revision = await release('good');
    const rolloutId = uniqueId('once');
    const target = { devices: devices.slice(6, 7) };
    expect((await (await h.startRollout({ rolloutId, revision, target })).result()).status).toBe('completed');

    await expect(h.startRollout({ rolloutId, revision, target })).rejects.toThrowWithCode('ROLLOUT_EXISTS');
    const again = await uproll(
      'rollout',
      'start',
      rolloutId,
      '--revision',
      revision,
      '--device',
      devices[6]!,
    );
    expect(again.status).toBe(1);
    expect(again.stderr).toContain(`uproll: ROLLOUT_EXISTS: rollout ${rolloutId} was started before`);
  });
});

describe('when a rollout id is on the event log but Temporal has forgotten it (past its retention)', () => {
  it('is refused with ROLLOUT_EXISTS all the same', async () => {
    const rolloutId = uniqueId('old');
    await h.eventLog.append(
      {
        aggregate: 'rollout',
        aggregateId: rolloutId,
        type: 'rollout.started',
        at: new Date().toISOString(),
        data: {},
      },
      { msgId: `${rolloutId}/test` },
    );
    const again = await uproll(
      'rollout',
      'start',
      rolloutId,
      '--revision',
      await release('good'),
      '--device',
      devices[6]!,
    );
    expect(again.status).toBe(1);
    expect(again.stderr).toBe(
      `uproll: ROLLOUT_EXISTS: rollout ${rolloutId} was started before (it is on the event log): choose another id`,
    );
    expect(
      await rolloutHandle(h.client, rolloutId)
        .describe()
        .catch(() => 'never started'),
    ).toBe('never started');
  });
});

describe('when another rollout holds a device', () => {
  it('counts it skipped: --wait says so and exits 3, and retry-failed retries it', async () => {
    const [busy, ...free] = devices.slice(7, 10) as [string, ...string[]];
    stalled.add(busy);
    const holder = await h.startRollout({
      rolloutId: uniqueId('holder'),
      revision: await release('good'),
      target: { devices: [busy] },
    });
    const leases = new DeviceLeases(h.nc);
    await eventually('the holder to lease the device', async () => (await leases.holder(busy)) !== undefined);

    const rolloutId = uniqueId('skips');
    const started = await uproll(
      'rollout',
      'start',
      rolloutId,
      '--revision',
      await release('good'),
      ...[busy, ...free].flatMap((d) => ['--device', d]),
      '--wait',
    );
    expect(started.status, started.stderr).toBe(3);
    expect(started.stdout).toContain('2 committed, 0 rolled back, 0 failed, 1 skipped');
    expect(started.stdout).toContain(`${busy}  skipped  DEVICE_BUSY`);
    expect(started.stdout.split('\n').at(-1)).toBe(
      `rollout ${rolloutId} completed, but 1 devices were skipped (busy with another rollout): retry-failed retries them`,
    );
    const status = JSON.parse((await control('rollout', 'status', rolloutId, '--json')).stdout) as unknown;
    expect(status).toMatchObject({ status: 'completed', counts: { committed: 2, skipped: 1 } });

    const retried = await uproll(
      'rollout',
      'retry-failed',
      rolloutId,
      '--as',
      `${rolloutId}-again`,
      '--json',
    );
    expect(retried.status, retried.stderr).toBe(0);
    expect(JSON.parse(retried.stdout)).toEqual({ rolloutId: `${rolloutId}-again`, retried: [busy] });
    await rolloutHandle(h.client, `${rolloutId}-again`).terminate('test over');
    await holder.terminate('test over');
  });
});

describe('when the rollout watched does not exist', () => {
  it('says so with a code', async () => {
    const watched = await control('rollout', 'watch', uniqueId('nosuch'));
    expect(watched.status).toBe(1);
    expect(watched.stderr).toMatch(/^uproll: INVALID_INPUT: there is no rollout nosuch-/);
  });
});
