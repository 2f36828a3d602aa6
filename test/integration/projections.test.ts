import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliInProcess } from '../helpers/cli-in-process.ts';
import { main as cli } from '../../cli/main.ts';
import { findFreePort, writeSettings } from '../../services/dev-stack/index.ts';
import {
  FLEET_KEY,
  ProjectionStore,
  readEvents,
  readProjections,
  rebuildProjections,
  startProjector,
  type DeviceView,
  type ProjectionBuckets,
  type Projections,
  type Projector,
} from '../../services/projections/index.ts';
import { captureIo } from '../cli-io.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';
import { eventually } from '../helpers/eventually.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

/** Buckets of this file only: other files share the run's NATS (and may run projectors of their own). */
function bucketsFor(name: string): ProjectionBuckets {
  const prefix = uniqueId(`T_${name}`).replaceAll('-', '_').toUpperCase();
  return { rollouts: `${prefix}_ROLLOUTS`, devices: `${prefix}_DEVICES`, fleet: `${prefix}_FLEET` };
}

// Projectors here read the whole event log, which holds the events of every file run so far (and
// of those running beside this one): waited for while they make progress, however long that is.
const WHOLE_LOG_MS = 300_000;

let h: Harness;
let fleet: string[];
let projector: Projector;
const live = bucketsFor('live');
let rolloutId: string;
let revision: string;

beforeAll(async () => {
  h = await startHarness();
  await h.startWorker();
  const prefix = uniqueId('proj');
  fleet = [0, 1, 2].map((i) => `${prefix}-${i}`);
  for (const deviceId of fleet) await h.startAgent(deviceId);
  projector = await startProjector(h.nc, { durableName: uniqueId('projector'), buckets: live });

  revision = uniqueId('rev');
  await h.repos.publish(revision, randomArtifacts(1, 4 * 1024), { releaseCounter: 1 });
  rolloutId = uniqueId('ro');
  const handle = await h.startRollout({
    rolloutId,
    revision,
    target: { devices: fleet },
    policy: { canary: 1, waves: { percentages: [100] }, maxInFlight: 3, gate: { minSample: 1 } },
    startedBy: 'release-manager@test',
  });
  expect((await handle.result()).status).toBe('completed');
  await projector.caughtUp();
}, WHOLE_LOG_MS);
afterAll(async () => {
  await projector?.stop();
  await h?.close();
});

const uproll = (...argv: string[]) => runCliInProcess([...argv, '--state-dir', h.stateDir]);

/** The part of the projections this file's rollout made. */
function ours(projections: Projections) {
  return {
    rollout: projections.rollouts[rolloutId],
    devices: fleet.map((deviceId) => projections.devices[deviceId]),
    devicesOnRevision: projections.fleet.revisions[revision],
  };
}

/**
 * Entries both sides had folded up to `sequence`: other files append to the
 * log meanwhile, so an entry the live projector moved past it is left out.
 */
function asOf(sequence: number, a: Projections, b: Projections) {
  const pick = <T extends { lastSequence: number }>(x: Record<string, T>, y: Record<string, T>) =>
    Object.keys({ ...x, ...y })
      .filter((key) => (x[key]?.lastSequence ?? 0) <= sequence && (y[key]?.lastSequence ?? 0) <= sequence)
      .sort()
      .map((key) => [key, x[key]]);
  return {
    rollouts: pick(a.rollouts, b.rollouts),
    devices: pick(a.devices, b.devices),
    fleet: a.fleet.lastSequence <= sequence && b.fleet.lastSequence <= sequence ? a.fleet : 'moved on',
  };
}

describe('projections of the event log', () => {
  it('show the rollout completed with its counts, each device committed, and the fleet on the revision', async () => {
    const { rollout, devices, devicesOnRevision } = ours(await readProjections(h.nc, live));

    expect(rollout).toMatchObject({
      status: 'completed',
      revision,
      startedBy: 'release-manager@test',
      waves: [1, 2],
      wavesFinished: 2,
      counts: { committed: 3, rolledBack: 0, failed: 0 },
      reportedCounts: { committed: 3, rolledBack: 0, failed: 0 },
    });
    for (const [i, device] of devices.entries()) {
      expect(device).toMatchObject<Partial<DeviceView>>({
        deviceId: fleet[i],
        rolloutId,
        revision,
        phase: 'committed',
        committedRevision: revision,
      });
    }
    expect(devicesOnRevision).toBe(3);
  });

  it(
    'rebuild from the whole log to exactly what the live projector holds',
    { timeout: WHOLE_LOG_MS },
    async () => {
      const rebuilt = bucketsFor('rebuilt');
      const result = await rebuildProjections(h.nc, { buckets: rebuilt });
      await projector.caughtUp();
      const [fromLive, fromRebuild] = [
        await readProjections(h.nc, live),
        await readProjections(h.nc, rebuilt),
      ];

      expect(ours(fromRebuild)).toEqual(ours(fromLive));
      const compared = asOf(result.lastSequence, fromLive, fromRebuild);
      expect(compared.rollouts.map(([id]) => id)).toContain(rolloutId);
      expect(compared).toEqual(asOf(result.lastSequence, fromRebuild, fromLive));
      expect(result).toMatchObject({ deleted: 0 });
      expect(result.events).toBeGreaterThanOrEqual(1 + 3 * 6);
    },
  );

  it(
    'rebuild in place beside the running projector without changing what it holds',
    { timeout: WHOLE_LOG_MS },
    async () => {
      const before = ours(await readProjections(h.nc, live));
      const result = await rebuildProjections(h.nc, { buckets: live });

      expect(ours(await readProjections(h.nc, live))).toEqual(before);
      expect(result.rollouts).toBeGreaterThanOrEqual(1);
    },
  );

  it(
    'change nothing when a second projector replays the whole log into the same buckets',
    { timeout: WHOLE_LOG_MS },
    async () => {
      const before = ours(await readProjections(h.nc, live));
      const second = await startProjector(h.nc, { durableName: uniqueId('projector-2'), buckets: live });
      try {
        await second.caughtUp();
      } finally {
        await second.stop();
      }
      expect(ours(await readProjections(h.nc, live))).toEqual(before);
    },
  );
});

describe('the device projection', () => {
  it('follows what a device runs by its signed reports: a rollback on the device shows as such', async () => {
    const deviceId = uniqueId('rolled');
    const agent = await h.startAgent(deviceId);
    const [first, second] = [uniqueId('rev'), uniqueId('rev')];
    for (const name of [first, second]) {
      await h.repos.publish(name, randomArtifacts(1, 1024));
      const handle = await h.startRollout({
        rolloutId: uniqueId('ro'),
        revision: name,
        target: { devices: [deviceId] },
        policy: { canary: 1 },
      });
      expect((await handle.result()).status).toBe('completed');
    }

    await agent.updates.rollbackNow(); // as an operator's rollback command does
    const device = await eventually(
      'the projection to show the device back on the first revision',
      async () => {
        const view = (await readProjections(h.nc, live)).devices[deviceId];
        return view?.committedRevision === first && view;
      },
    );
    expect(device).toMatchObject({ revision: second, phase: 'rolled_back', lastReport: { accepted: true } });
  });
});

describe('uproll events and devices', () => {
  it('events tail prints the rollout audit trail the log holds, oldest first', async () => {
    const logged = await h.eventLog.read('rollout', rolloutId);
    const json = await uproll('events', 'tail', '--aggregate', 'rollout', '--id', rolloutId, '--json');
    expect(json.status, json.stderr).toBe(0);
    const printed = json.stdout
      .split('\n')
      .map((line) => JSON.parse(line) as { sequence: number; type: string });
    expect(printed.map(({ sequence, type }) => [sequence, type])).toEqual(
      logged.map(({ sequence, event }) => [sequence, event.type]),
    );

    const text = await uproll('events', 'tail', '--aggregate', 'rollout', '--id', rolloutId);
    const lines = text.stdout.split('\n');
    expect(lines).toHaveLength(logged.length);
    expect(lines[0]).toMatch(
      new RegExp(
        `^\\S+Z  rollout/${rolloutId} +rollout\\.started +by release-manager@test: revision ${revision}, waves 1\\+2$`,
      ),
    );
    expect(lines.at(-1)).toMatch(/rollout\.completed +3 committed, 0 rolled back, 0 failed$/);

    const last = await uproll('events', 'tail', '--id', rolloutId, '--limit', '2', '--json');
    expect(last.stdout.split('\n').map((line) => (JSON.parse(line) as { type: string }).type)).toEqual(
      logged.slice(-2).map(({ event }) => event.type),
    );
  });

  it('events rebuild fills the default projections; devices list and show print what the log says', async () => {
    const rebuilt = await uproll('events', 'rebuild', '--json');
    expect(rebuilt.status, rebuilt.stderr).toBe(0);
    expect(JSON.parse(rebuilt.stdout)).toMatchObject({ rollouts: expect.any(Number) as number });

    const list = await uproll('devices', 'list', '--json');
    expect(list.status, list.stderr).toBe(0);
    const listed = (JSON.parse(list.stdout) as DeviceView[]).filter((d) => fleet.includes(d.deviceId));
    expect(listed.map((d) => [d.deviceId, d.revision, d.phase, d.rolloutId])).toEqual(
      fleet.map((deviceId) => [deviceId, revision, 'committed', rolloutId]),
    );
    const table = await uproll('devices', 'list');
    expect(table.stdout.split('\n')[0]).toMatch(/^DEVICE +RUNS +LAST UPDATE +ROLLOUT +LAST SEEN +APPS$/);
    expect(table.stdout).toMatch(
      new RegExp(`${fleet[0]} +${revision} +${revision} committed +${rolloutId} `),
    );

    const shown = await uproll('devices', 'show', fleet[0]!, '--events', '3', '--json');
    const { device, events } = JSON.parse(shown.stdout) as { device: DeviceView; events: { type: string }[] };
    const logged = await h.eventLog.read('device', fleet[0]!);
    expect(device).toMatchObject({ phase: 'committed', lastSequence: logged.at(-1)?.sequence });
    expect(events.map((e) => e.type)).toEqual(logged.slice(-3).map(({ event }) => event.type));
  });

  it('refuses bad arguments with INVALID_INPUT and an unreachable stack with STACK_NOT_RUNNING', async () => {
    for (const argv of [
      ['events', 'tail', '--aggregate', 'planet'],
      ['events', 'tail', '--id', 'a.b'],
      ['events', 'tail', '--limit', '0'],
      ['devices', 'show', 'no such device!'],
      ['devices', 'show', uniqueId('never-seen')],
    ]) {
      expect(await uproll(...argv), argv.join(' ')).toMatchObject({
        status: 1,
        stderr: expect.stringContaining('uproll: INVALID_INPUT:') as string,
      });
    }
    expect(await uproll('events', 'tail', 'extra')).toMatchObject({ status: 2 });

    const stoppedStack = await mkdtemp(join(tmpdir(), 'uproll-no-stack-'));
    await writeSettings(stoppedStack, {
      host: '127.0.0.1',
      namespace: 'default',
      ports: {
        temporal: await findFreePort(),
        nats: await findFreePort(),
        natsMonitor: await findFreePort(),
      },
    });
    for (const stateDir of [stoppedStack, join(stoppedStack, 'never-set-up')]) {
      const io = captureIo();
      expect(await cli(['devices', 'list', '--state-dir', stateDir], io)).toBe(1);
      expect(io.stderr()).toMatch(/^uproll: STACK_NOT_RUNNING: /);
    }
  });

  it('follows new events until stopped', async () => {
    const deviceId = uniqueId('followed');
    const stop = new AbortController();
    const seen: string[] = [];
    const following = (async () => {
      for await (const { event } of readEvents(h.nc, {
        filter: `uproll.evt.device.${deviceId}`,
        follow: stop.signal,
      })) {
        seen.push(event.type);
        if (seen.length === 2) stop.abort();
      }
    })();
    for (const type of ['device.report.accepted', 'device.report.accepted']) {
      await h.eventLog.append(
        {
          aggregate: 'device',
          aggregateId: deviceId,
          type,
          at: new Date().toISOString(),
          data: { counter: seen.length },
        },
        { msgId: uniqueId('m') },
      );
    }
    await following;
    expect(seen).toEqual(['device.report.accepted', 'device.report.accepted']);
  });
});

describe('a projection store that remembers the values it read and wrote', () => {
  it('notices another writer: its stale write fails, and it reads the key afresh after', async () => {
    const buckets = bucketsFor('cache');
    const cached = await ProjectionStore.open(h.nc, buckets, { cacheSize: 10 });
    const other = await ProjectionStore.open(h.nc, buckets);
    const fleetOf = (devices: number) => ({ revisions: { r1: devices }, devices, lastSequence: devices });

    expect(await cached.write('fleet', FLEET_KEY, fleetOf(1), 0)).toBe(true);
    const remembered = await cached.get('fleet', FLEET_KEY);
    expect(await other.write('fleet', FLEET_KEY, fleetOf(2), remembered.revision)).toBe(true);

    expect(await cached.write('fleet', FLEET_KEY, fleetOf(3), remembered.revision)).toBe(false);
    const fresh = await cached.get('fleet', FLEET_KEY);
    expect(fresh.value).toEqual(fleetOf(2));
    expect(await cached.write('fleet', FLEET_KEY, fleetOf(3), fresh.revision)).toBe(true);
    expect((await other.get('fleet', FLEET_KEY)).value).toEqual(fleetOf(3));
  });
});
