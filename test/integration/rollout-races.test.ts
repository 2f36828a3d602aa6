import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProtocolFleet } from '../../sim/index.ts';
import { abortRolloutUpdate, rolloutProgressQuery } from '../../workflows/contracts.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';
import { eventually } from '../helpers/eventually.ts';
import { startFleetOf } from '../helpers/protocol-fleet-rig.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

// Updates that arrive while the rollout's main loop awaits, and rollouts that
// cross runs (continue-as-new) inside a wave: protocol-level simulated devices
// against the real Temporal, NATS, Director and report listener.
let h: Harness;
let fleet: ProtocolFleet;
let devices: string[];
/** Which devices fail their health check on which revision. */
const failing = new Map<string, ReadonlySet<string>>();
/** Devices that answer no command for now. */
const offline = new Set<string>();

beforeAll(async () => {
  h = await startHarness();
  await h.startWorker();
  ({ devices, fleet } = await startFleetOf({
    count: 8,
    prefix: uniqueId('race'),
    repos: h.repos,
    stateDir: h.stateDir,
    natsUrl: h.addresses.nats,
    unhealthy: (deviceId, revision) => failing.get(revision)?.has(deviceId) ?? false,
    offline: (deviceId) => offline.has(deviceId),
  }));
}, 120_000);
afterAll(async () => {
  await fleet?.stop();
  await h?.close();
});

async function release(failingOn: readonly string[] = []): Promise<string> {
  const revision = uniqueId('rev');
  failing.set(revision, new Set(failingOn));
  await h.repos.publish(revision, randomArtifacts(1, 1024), { releaseCounter: 1 });
  return revision;
}

async function rolloutEvents(rolloutId: string): Promise<string[]> {
  return (await h.eventLog.read('rollout', rolloutId)).map(({ event }) => event.type);
}

/** Each device of the fleet has exactly one committed update of the rollout in the event log. */
async function expectEachCommittedOnce(rolloutId: string): Promise<void> {
  for (const deviceId of devices) {
    const updates = (await h.eventLog.read('device', deviceId)).filter(
      ({ event }) =>
        event.type === 'device.update.committed' &&
        (event.data as { rollout?: string }).rollout === rolloutId,
    );
    expect(updates, deviceId).toHaveLength(1);
  }
}

describe('when a person aborts during the soak and the gate then fails with onBreach: pause', () => {
  it('stays aborted and ends: the gate does not pause it again', async () => {
    const target = devices.slice(0, 3);
    const revision = await release([target[0]!]);
    const rolloutId = uniqueId('ro');
    const handle = await h.startRollout({
      rolloutId,
      revision,
      target: { devices: target },
      policy: {
        canary: 1,
        waves: { percentages: [100] },
        gate: { soakMs: 5000, maxFailureRate: 0 },
        onBreach: 'pause',
      },
    });
    await eventually('the canary to fail and the soak to begin', async () => {
      const { waves } = await handle.query(rolloutProgressQuery);
      return waves[0]?.state === 'finished';
    });

    await handle.executeUpdate(abortRolloutUpdate, { args: ['ops'] });

    const ended = await eventually(
      'the rollout to end after the soak',
      async () => (await handle.describe()).status.name !== 'RUNNING' && (await handle.result()),
    );
    expect(ended.status).toBe('aborted');
    const events = await rolloutEvents(rolloutId);
    expect(events.slice(events.indexOf('rollout.aborted'))).not.toContain('rollout.paused');
  });
});

describe('a rollout whose history passes its limit inside a wave', () => {
  it('continues as new there, and updates each device once', async () => {
    const revision = await release();
    const rolloutId = uniqueId('ro');
    const handle = await h.startRollout({
      rolloutId,
      revision,
      target: { devices },
      policy: { canary: 1, waves: { percentages: [100] }, maxInFlight: 2 },
      historyLimit: 40,
    });

    const result = await handle.result();

    expect(result).toMatchObject({
      status: 'completed',
      counts: { committed: devices.length, rolledBack: 0, failed: 0 },
    });
    // More runs than waves: some began inside the wave (visibility may lag a moment behind).
    const runIds = await eventually('the runs to be listed', async () => {
      const ids: string[] = [];
      const query = `WorkflowId = '${handle.workflowId}'`;
      for await (const run of h.client.workflow.list({ query })) ids.push(run.runId);
      return ids.length > 2 && ids;
    });
    const events = await rolloutEvents(rolloutId);
    expect(events.filter((type) => type === 'rollout.wave.started')).toHaveLength(2);
    await expectEachCommittedOnce(rolloutId);
    for (const runId of runIds) {
      const run = h.client.workflow.getHandle(handle.workflowId, runId);
      // Each run keeps the rollout's workflow task time limit, not Temporal's default 10 s.
      const { raw } = await run.describe();
      expect(Number(raw.executionConfig?.defaultWorkflowTaskTimeout?.seconds)).toBe(60);
      // Its device updates are not its children: none ends into its history, none races its
      // continue-as-new (an unhandled command, then a replay of the whole history).
      const events = (await run.fetchHistory()).events ?? [];
      expect(events.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)).toEqual([]);
      expect(events.filter((e) => e.workflowTaskFailedEventAttributes)).toEqual([]);
    }
  });
});

describe('a rollout that continues as new while a device of the wave does not answer', () => {
  it('hands that update to the next run and goes on with the others', async () => {
    const revision = await release();
    const rolloutId = uniqueId('ro');
    const away = devices[1]!; // the first of the wave after the canary
    offline.add(away);
    try {
      const handle = await h.startRollout({
        rolloutId,
        revision,
        target: { devices },
        // It is offline only after 10 minutes: its update waits for it that long.
        policy: { canary: 1, waves: { percentages: [100] }, maxInFlight: 2, offline: { afterMs: 600_000 } },
        historyLimit: 40,
      });

      // Before this, a run waited for every update in flight before it continued as new.
      await eventually(
        'every other device to commit while the update of the one away waits',
        async () => (await handle.query(rolloutProgressQuery)).counts.committed === devices.length - 1,
        { timeoutMs: 120_000 },
      );
      offline.delete(away);
      const result = await handle.result();

      expect(result).toMatchObject({
        status: 'completed',
        counts: { committed: devices.length, rolledBack: 0, failed: 0 },
      });
      await expectEachCommittedOnce(rolloutId);
    } finally {
      offline.delete(away);
    }
  }, 240_000);
});
