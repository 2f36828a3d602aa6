import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliInProcess } from '../helpers/cli-in-process.ts';
import { rolloutHandle } from '../../services/temporal/index.ts';
import type { ProtocolFleet } from '../../sim/index.ts';
import { rolloutProgressQuery } from '../../workflows/contracts.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';
import { eventually } from '../helpers/eventually.ts';
import { startFleetOf } from '../helpers/protocol-fleet-rig.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

// A rollout to a tag, through the CLI, on protocol-level simulated devices
// against the real Temporal, NATS and Director.
let h: Harness;
let fleet: ProtocolFleet;
let devices: string[];

beforeAll(async () => {
  h = await startHarness();
  await h.startWorker();
  ({ devices, fleet } = await startFleetOf({
    count: 6,
    prefix: uniqueId('tags'),
    repos: h.repos,
    stateDir: h.stateDir,
    natsUrl: h.addresses.nats,
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

/** Commands that read the stack only take no location options. */
const uprollStack = (...argv: string[]) => runCliInProcess([...argv, '--state-dir', h.stateDir]);

/** The devices whose log says they committed `rolloutId`. */
async function committedIn(rolloutId: string): Promise<string[]> {
  const committed: string[] = [];
  for (const deviceId of devices) {
    const events = await h.eventLog.read('device', deviceId);
    if (
      events.some(
        ({ event }) =>
          event.type === 'device.update.committed' &&
          (event.data as { rolloutId?: string }).rolloutId === rolloutId,
      )
    )
      committed.push(deviceId);
  }
  return committed;
}

describe('a rollout to a tag', () => {
  it('updates exactly the tagged devices, and a device tagged while it runs joins it', async () => {
    const tag = uniqueId('site').toLowerCase();
    const [late, ...rest] = devices;
    const tagged = rest.slice(0, 3);
    for (const deviceId of tagged)
      expect(await uproll('devices', 'tag', deviceId, tag, 'other-group', '--by', 'olga')).toMatchObject({
        status: 0,
      });
    const revision = uniqueId('tagrev');
    await h.repos.publish(revision, randomArtifacts(1, 1024), { releaseCounter: 1 });
    const rolloutId = uniqueId('tagro');

    // The soak after the canary leaves the rollout running while the late device is tagged.
    const started = await uproll(
      'rollout',
      'start',
      rolloutId,
      '--revision',
      revision,
      '--tag',
      tag,
      '--canary',
      '1',
      '--waves',
      '100',
      '--soak',
      '3000',
    );
    expect(started.status, started.stderr).toBe(0);
    const handle = rolloutHandle(h.client, rolloutId);
    await eventually(
      'the canary to commit',
      async () => (await handle.query(rolloutProgressQuery)).counts.committed >= 1,
    );
    expect(await uproll('devices', 'tag', late!, tag, '--by', 'olga')).toMatchObject({ status: 0 });
    const result = await handle.result();

    expect(result).toMatchObject({ status: 'completed', counts: { committed: 4, rolledBack: 0, failed: 0 } });
    expect((await committedIn(rolloutId)).sort()).toEqual([late!, ...tagged].sort());
    const types = (await h.eventLog.read('rollout', rolloutId)).map(({ event }) => event.type);
    expect(types).toContain('rollout.devices.joined');
    const tagEvents = (await h.eventLog.read('device', late!)).filter(
      ({ event }) => event.type === 'device.tagged',
    );
    expect(tagEvents.map(({ event }) => event.data)).toMatchObject([{ by: 'olga', added: [tag] }]);

    expect((await uprollStack('events', 'rebuild')).status).toBe(0);
    const shown = await uprollStack('devices', 'show', tagged[0]!);
    expect(shown.stdout).toMatch(new RegExp(`^  tags +other-group ${tag}$`, 'm'));
  });
});
