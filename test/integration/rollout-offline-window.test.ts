import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RolloutPolicyInput } from '../../core/index.ts';
import { readPresence } from '../../services/nats/index.ts';
import { abortRolloutUpdate, rolloutProgressQuery } from '../../workflows/contracts.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';
import { eventually } from '../helpers/eventually.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  await h.startWorker();
}, 120_000);
afterAll(() => h.close());

async function release(): Promise<string> {
  const revision = uniqueId('rev');
  await h.repos.publish(revision, randomArtifacts(1, 4096), { releaseCounter: 1 });
  return revision;
}

async function rolloutEvents(rolloutId: string): Promise<string[]> {
  return (await h.eventLog.read('rollout', rolloutId)).map(({ event }) => event.type);
}

/** Two devices online, one enrolled but offline (no agent yet). */
async function fleetWithOneOffline() {
  const prefix = uniqueId('fl');
  const online = [`${prefix}-a`, `${prefix}-b`];
  for (const deviceId of online) await h.startAgent(deviceId);
  const offline = `${prefix}-off`;
  const identity = await h.enroll(offline);
  return { devices: [...online, offline], offline, identity };
}

const quickOffline = { afterMs: 2000, checkMs: 1000 };
const oneWave: RolloutPolicyInput = { canary: 1, waves: { percentages: [100] }, maxInFlight: 4 };

describe('a device that is offline during the rollout', () => {
  it('is reported pending by default, without counting against the gate', async () => {
    const { devices, offline } = await fleetWithOneOffline();
    const handle = await h.startRollout({
      rolloutId: uniqueId('ro'),
      revision: await release(),
      target: { devices },
      policy: { ...oneWave, gate: { maxFailureRate: 0 }, offline: quickOffline },
    });

    const result = await handle.result();

    expect(result).toMatchObject({ status: 'completed', counts: { committed: 2, rolledBack: 0, failed: 0 } });
    const progress = await handle.query(rolloutProgressQuery);
    expect(progress.counts.pending).toBe(1);
    expect(progress.failures.map((f) => [f.deviceId, f.outcome, f.reason.code])).toEqual([
      [offline, 'pending', 'DEVICE_OFFLINE'],
    ]);
  });

  it('gets the release when it comes back, with policy offline: wait', async () => {
    const { devices, offline, identity } = await fleetWithOneOffline();
    const rolloutId = uniqueId('ro');
    const handle = await h.startRollout({
      rolloutId,
      revision: await release(),
      target: { devices },
      policy: { ...oneWave, offline: { ...quickOffline, action: 'wait' } },
    });
    await eventually('the offline device to be pending', async () => {
      const { counts, status } = await handle.query(rolloutProgressQuery);
      return counts.pending === 1 && counts.committed === 2 && status === 'running';
    });

    await h.startAgent(offline, { identity }); // its first heartbeat says it is back
    const result = await handle.result();

    expect(result).toMatchObject({ status: 'completed', counts: { committed: 3, rolledBack: 0, failed: 0 } });
    expect((await handle.query(rolloutProgressQuery)).counts.pending).toBe(0);
    expect(await rolloutEvents(rolloutId)).toEqual(
      expect.arrayContaining(['rollout.offline.waiting', 'rollout.offline.returned', 'rollout.completed']),
    );
  });
});

describe('a maintenance window', () => {
  it('is evaluated in each device own time zone: a device whose window is closed waits for it', async () => {
    const prefix = uniqueId('mw');
    const inUtc = `${prefix}-utc`;
    const inKolkata = `${prefix}-ist`;
    await h.startAgent(inUtc, { timezone: 'UTC' });
    await h.startAgent(inKolkata, { timezone: 'Asia/Kolkata' });
    await eventually('both heartbeats', async () => {
      const seen = await readPresence(h.nc, [inUtc, inKolkata]);
      return seen[inKolkata]?.timezone === 'Asia/Kolkata' && seen[inUtc]?.timezone === 'UTC';
    });
    // Open from the last full hour for two hours of the device's local time: now in UTC,
    // not in Kolkata (5.5 hours ahead).
    const hour = (new Date().getUTCHours() + 23) % 24;
    const rolloutId = uniqueId('ro');
    const handle = await h.startRollout({
      rolloutId,
      revision: await release(),
      target: { devices: [inUtc, inKolkata] },
      policy: {
        canary: 2,
        waves: { percentages: [100] },
        maintenanceWindow: { cron: `0 ${hour} * * *`, durationMs: 2 * 3600_000 },
      },
    });

    await eventually('the device in its window to commit', async () => {
      const { counts } = await handle.query(rolloutProgressQuery);
      return counts.committed === 1 && counts.waitingForWindow === 1;
    });
    expect(await rolloutEvents(rolloutId)).toContain('rollout.devices.deferred');
    await handle.executeUpdate(abortRolloutUpdate, { args: ['ops'] });
    const result = await handle.result();

    expect(result).toMatchObject({ status: 'aborted', counts: { committed: 1, failed: 0 } });
    const progress = await handle.query(rolloutProgressQuery);
    expect(progress.counts.waitingForWindow).toBe(0);
  });
});

describe('the soak time', () => {
  it('counts a committed device whose heartbeats show it left the new revision as rolled back', async () => {
    const prefix = uniqueId('soak');
    const [first, second] = [`${prefix}-a`, `${prefix}-b`];
    const agents = [
      await h.startAgent(first, { heartbeatMs: 200 }),
      await h.startAgent(second, { heartbeatMs: 200 }),
    ];
    const before = await release();
    const onBoth = { canary: 2, waves: { percentages: [100] } };
    const setUp = await h.startRollout({
      rolloutId: uniqueId('ro'),
      revision: before,
      target: { devices: [first, second] },
      policy: onBoth,
    });
    expect((await setUp.result()).status).toBe('completed');

    const revision = await release();
    const rolloutId = uniqueId('ro');
    const handle = await h.startRollout({
      rolloutId,
      revision,
      target: { devices: [first, second] },
      // Long enough for the rollback below to reach the heartbeats on a loaded machine (4 s was not, once).
      policy: { canary: 1, waves: { percentages: [100] }, gate: { soakMs: 10_000, maxFailureRate: 0 } },
    });
    await eventually('the canary to commit', async () => {
      const { waves } = await handle.query(rolloutProgressQuery);
      return waves[0]?.state === 'finished';
    });
    await agents[0]!.updates.rollbackNow(); // during the soak: back on the previous revision
    await eventually('the rollout to pause at the gate', async () => {
      return (await handle.query(rolloutProgressQuery)).status === 'paused';
    });

    const progress = await handle.query(rolloutProgressQuery);
    expect(progress.failures.map((f) => [f.deviceId, f.outcome, f.reason.code])).toEqual([
      [first, 'rolled_back', 'UNHEALTHY_AFTER_COMMIT'],
    ]);
    expect((await agents[1]!.updates.boot.read()).active?.revision).toBe(before); // the next wave never ran
    expect(await rolloutEvents(rolloutId)).toEqual(
      expect.arrayContaining(['rollout.soak.regressed', 'rollout.gate.failed', 'rollout.paused']),
    );
    await handle.executeUpdate(abortRolloutUpdate, { args: ['ops'] });
    expect((await handle.result()).status).toBe('aborted');
  });
});
