import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliInProcess } from '../helpers/cli-in-process.ts';
import type { RolloutListRow } from '../../services/projections/index.ts';
import type { ProtocolFleet } from '../../sim/index.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';
import { startFleetOf } from '../helpers/protocol-fleet-rig.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

// `rollout list` over rollouts this file runs, read from the default
// projections that `events rebuild` fills (as an operator would).
let h: Harness;
let fleet: ProtocolFleet;
let devices: string[];
let completed: string;
let rolledBack: string;
let revision: string;
let bad: string;

beforeAll(async () => {
  h = await startHarness();
  await h.startWorker();
  revision = uniqueId('listrev');
  bad = uniqueId('listbad');
  ({ devices, fleet } = await startFleetOf({
    count: 3,
    prefix: uniqueId('list'),
    repos: h.repos,
    stateDir: h.stateDir,
    natsUrl: h.addresses.nats,
    unhealthy: (_, rev) => rev === bad,
  }));
  await h.repos.publish(revision, randomArtifacts(1, 1024), { releaseCounter: 1 });
  await h.repos.publish(bad, randomArtifacts(1, 1024), { releaseCounter: 1 });
  completed = uniqueId('listok');
  const first = await h.startRollout({
    rolloutId: completed,
    revision,
    target: { devices },
    policy: { canary: 1, waves: { percentages: [100] } },
    startedBy: 'alice@test',
  });
  expect((await first.result()).status).toBe('completed');
  rolledBack = uniqueId('listbad');
  const second = await h.startRollout({
    rolloutId: rolledBack,
    revision: bad,
    target: { devices },
    policy: { canary: 1, waves: { percentages: [100] }, onBreach: 'abort_and_rollback' },
    startedBy: 'bob@test',
  });
  expect((await second.result()).status).toBe('rolled_back');
}, 120_000);
afterAll(async () => {
  await fleet?.stop();
  await h?.close();
});

const uproll = (...argv: string[]) => runCliInProcess([...argv, '--state-dir', h.stateDir]);

function ours(stdout: string): RolloutListRow[] {
  return (JSON.parse(stdout) as RolloutListRow[]).filter((row) =>
    [completed, rolledBack].includes(row.rolloutId),
  );
}

describe('uproll rollout list', () => {
  it('lists every rollout newest first, with status, revision, who, when and counts', async () => {
    expect((await uproll('events', 'rebuild')).status).toBe(0);

    const listed = await uproll('rollout', 'list', '--json');
    expect(listed.status, listed.stderr).toBe(0);
    expect(ours(listed.stdout)).toEqual([
      {
        rolloutId: rolledBack,
        status: 'rolled_back',
        revision: bad,
        startedBy: 'bob@test',
        startedAt: expect.any(String) as string,
        committed: 0,
        rolledBack: 1,
        failed: 0,
        skipped: 0, // aborted after the canary: the rest were never started, not skipped
      },
      {
        rolloutId: completed,
        status: 'completed',
        revision,
        startedBy: 'alice@test',
        startedAt: expect.any(String) as string,
        committed: 3,
        rolledBack: 0,
        failed: 0,
        skipped: 0,
      },
    ]);

    const table = await uproll('rollout', 'list');
    expect(table.stdout.split('\n')[0]).toMatch(
      /^ROLLOUT +STATUS +REVISION +STARTED BY +STARTED +COMMITTED +ROLLED BACK +FAILED +SKIPPED$/,
    );
    expect(table.stdout).toMatch(
      new RegExp(`${completed} +completed +${revision} +alice@test +\\S+Z +3 +0 +0 +0`),
    );
  });

  it('--status keeps only the rollouts in that status', async () => {
    expect((await uproll('events', 'rebuild')).status).toBe(0);
    const done = await uproll('rollout', 'list', '--status', 'completed', '--json');
    expect(ours(done.stdout).map((row) => row.rolloutId)).toEqual([completed]);
    const back = await uproll('rollout', 'list', '--status', 'rolled_back', '--json');
    expect(ours(back.stdout).map((row) => row.rolloutId)).toEqual([rolledBack]);
    expect(await uproll('rollout', 'list', '--status', 'lost')).toMatchObject({
      status: 1,
      stderr: expect.stringMatching(/^uproll: INVALID_INPUT: --status must be one of/) as string,
    });
  });
});
