import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthCheckSchema } from '../../core/index.ts';
import { type DeviceUpdateHandle } from '../../services/temporal/index.ts';
import type { DeviceUpdateInput } from '../../workflows/contracts.ts';
import { COMMITTED_UPDATE_EVENTS } from './expected-events.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';
import { eventually } from '../helpers/eventually.ts';

const artifactIsPresent = healthCheckSchema.parse({ command: ['sh', '-c', 'test -s rootfs.img'] });
/** A revision's own health check: its app crashes on this board. */
const appCrashes = {
  command: ['sh', '-c', 'echo "app exited: segfault" >&2; exit 3'] as [string, ...string[]],
};
const rootfs = (bytes: Uint8Array) => [{ path: 'rootfs.img', bytes }];

/**
 * This file's worker, in the test process or spawned as `uproll worker`, polls a task queue of its
 * own: no other file's worker takes its updates, and its spawned worker takes no other file's.
 */
const taskQueue = uniqueId('device-update');
const startUpdate = (input: DeviceUpdateInput) => h.startDeviceUpdate(input);

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ taskQueue });
  await h.startWorker();
});
const workerProcesses: ChildProcess[] = [];
afterAll(async () => {
  for (const child of workerProcesses) child.kill('SIGKILL');
  await h.close();
});

/** The device's update events (its accepted version reports are on its log too). */
async function eventTypes(deviceId: string): Promise<string[]> {
  return (await h.eventLog.read('device', deviceId))
    .map(({ event }) => event.type)
    .filter((type) => type.startsWith('device.update.'));
}

async function failureOf(handle: DeviceUpdateHandle): Promise<ApplicationFailure> {
  const err = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

/** Local activities the update ran before the device's first telemetry reached it. */
async function localActivitiesBeforeFirstSignal(handle: DeviceUpdateHandle): Promise<number> {
  const events = (await handle.fetchHistory()).events ?? [];
  const firstSignal = events.findIndex((e) => e.workflowExecutionSignaledEventAttributes);
  return events
    .slice(0, firstSignal)
    .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length;
}

/** Workflow ids found through the UprollDeviceId search attribute (visibility lags a little). */
async function workflowsOfDevice(deviceId: string): Promise<string[]> {
  return eventually(`a workflow of ${deviceId} in visibility`, async () => {
    const ids: string[] = [];
    for await (const execution of h.client.workflow.list({ query: `UprollDeviceId = '${deviceId}'` })) {
      ids.push(execution.workflowId);
    }
    return ids.length > 0 && ids;
  });
}

describe('deviceUpdateWorkflow', () => {
  describe('when the device installs the release and its health check passes', () => {
    it('ends committed with the new slot active and every phase on the event log', async () => {
      const deviceId = uniqueId('happy');
      const agent = await h.startAgent(deviceId, { healthCheck: artifactIsPresent });
      const content = randomBytes(256 * 1024);
      const revision = uniqueId('happy');
      await h.release(revision, rootfs(content), [deviceId]);

      const handle = await startUpdate({
        deviceId,
        command: { rolloutId: uniqueId('r'), revision },
      });
      const result = await handle.result();

      expect(handle.workflowId).toBe(`device-update/${deviceId}/${result.rolloutId}`);
      expect(result).toMatchObject({
        outcome: 'committed',
        deployment: 'a',
        phases: ['commanded', 'downloaded', 'verified', 'installed', 'healthy', 'committed'],
      });
      expect(await workflowsOfDevice(deviceId)).toEqual([handle.workflowId]);
      expect(await agent.updates.boot.read()).toMatchObject({
        active: { revision, deployment: 'a' },
        trial: false,
        previous: null,
      });
      expect(await readFile(join(agent.dataDir, 'slots', 'a', 'rootfs.img'))).toEqual(content);
      expect(await eventTypes(deviceId)).toEqual(COMMITTED_UPDATE_EVENTS);
      // Opened (lease, started, Director) and commanded in one local activity, not two.
      expect(await localActivitiesBeforeFirstSignal(handle)).toBe(1);
    });
  });

  describe('when the new revision fails its health check', () => {
    it('ends rolled back to the committed revision, with the reason reported', async () => {
      const deviceId = uniqueId('unhealthy');
      const agent = await h.startAgent(deviceId, { healthCheck: artifactIsPresent });
      const good = uniqueId('good');
      await h.release(good, rootfs(randomBytes(1024)), [deviceId]);
      await (await startUpdate({ deviceId, command: { rolloutId: uniqueId('r'), revision: good } })).result();
      const crashing = uniqueId('crash');
      await h.release(crashing, rootfs(randomBytes(64)), [deviceId], { health: appCrashes });
      const handle = await startUpdate({
        deviceId,
        command: { rolloutId: uniqueId('r'), revision: crashing },
      });
      const result = await handle.result();

      expect(result.outcome).toBe('rolled_back');
      expect(result.deployment).toBe('a');
      expect(result.reason?.code).toBe('HEALTH_CHECK_FAILED');
      expect(result.reason?.message).toContain('app exited: segfault');
      expect(await agent.updates.boot.read()).toMatchObject({ active: { revision: good }, trial: false });
      expect((await eventTypes(deviceId)).at(-1)).toBe('device.update.rolled_back');
    });
  });

  describe('when the served bytes are not what the signed revision lists', () => {
    it('installs nothing and fails with HASH_MISMATCH', async () => {
      const deviceId = uniqueId('badhash');
      const agent = await h.startAgent(deviceId, { healthCheck: artifactIsPresent });
      const revision = uniqueId('tampered');
      const published = await h.release(revision, rootfs(randomBytes(4096)), [deviceId]);
      const object = join(h.repos.image.targetsDir, 'objects', published.revision.artifacts[0]!.sha256);
      const bytes = await readFile(object);
      bytes[0] = bytes[0]! ^ 0xff; // same length, one byte flipped on the server
      await writeFile(object, bytes);

      const handle = await startUpdate({
        deviceId,
        command: { rolloutId: uniqueId('r'), revision },
      });
      const failure = await failureOf(handle);

      expect(failure.type).toBe('HASH_MISMATCH');
      expect(failure.nonRetryable).toBe(true);
      expect(await agent.updates.boot.read()).toEqual({
        active: null,
        trial: false,
        bootAttempts: 0,
        previous: null,
      });
      expect(await readdir(agent.dataDir)).not.toContain('slots');
      const events = (await h.eventLog.read('device', deviceId)).filter(({ event }) =>
        event.type.startsWith('device.update.'),
      );
      expect(events.at(-1)?.event).toMatchObject({
        type: 'device.update.failed',
        data: { error: { code: 'HASH_MISMATCH' } },
      });
    });
  });

  describe('when the device never answers', () => {
    it('fails with DEVICE_OFFLINE once the command step runs out of time', async () => {
      const deviceId = uniqueId('silent');
      await h.provisionDevice(deviceId); // known to NATS and the Director, but no agent is connected
      await h.repos.enroll(deviceId);
      const revision = uniqueId('never-sent');
      await h.release(revision, rootfs(randomBytes(64)), []);

      const handle = await startUpdate({
        deviceId,
        command: { rolloutId: uniqueId('r'), revision },
        phaseTimeouts: { command: 3000 },
      });
      const failure = await failureOf(handle);

      expect(failure.type).toBe('DEVICE_OFFLINE');
      expect(failure.message).toContain('did not accept the update command within 3 seconds');
      expect(await eventTypes(deviceId)).toEqual(['device.update.started', 'device.update.failed']);
    });
  });

  describe('when the rollout worker goes away in the middle of an update', () => {
    /** Each way to lose the worker: set up, then return what loses it. */
    const gracefulShutdown = () => Promise.resolve(() => h.stopWorker());
    const killedProcess = async () => {
      await h.stopWorker(); // only the child process polls this file's task queue now
      const child = await spawnWorkerProcess(h.stateDir);
      return async () => {
        child.kill('SIGKILL');
        await once(child, 'exit');
      };
    };

    it.each([
      ['shuts down gracefully', gracefulShutdown],
      ['is killed with SIGKILL in its own process', killedProcess],
    ])('and it %s, a new worker completes the update exactly once', async (_how, prepare) => {
      const deviceId = uniqueId('restart');
      const agent = await h.startAgent(deviceId, { healthCheck: artifactIsPresent });
      const revision = uniqueId('restart');
      const rolloutId = uniqueId('r');
      // Assigned here: the worker process has no Director keys to assign with.
      await h.release(revision, rootfs(randomBytes(8192)), [deviceId], { rolloutId });
      const gate = h.proxy.hold();
      const requestsBefore = h.proxy.stats.objectRequests.length;
      const loseWorker = await prepare();
      try {
        const handle = await startUpdate({
          deviceId,
          command: { rolloutId, revision },
          assign: false,
        });
        await gate.requested; // the device accepted the command and is downloading
        await loseWorker();

        gate.release();
        await agent.updates.idle(); // the device finished while no worker ran
        await h.startWorker();
        const result = await handle.result();

        expect(result.outcome).toBe('committed');
        expect(h.proxy.stats.objectRequests.length - requestsBefore).toBe(1);
        expect(await eventTypes(deviceId)).toEqual(COMMITTED_UPDATE_EVENTS);
      } finally {
        gate.release();
        await h.startWorker();
      }
    });
  });
});

/** `uproll worker` in its own process; resolves once it polls the task queue. */
async function spawnWorkerProcess(stateDir: string): Promise<ChildProcess> {
  const argv = ['bin/uproll.js', 'worker', '--json', '--state-dir', stateDir, '--task-queue', taskQueue];
  const child = spawn(process.execPath, argv, {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  workerProcesses.push(child);
  const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
  expect(JSON.parse(line)).toMatchObject({ ready: true, taskQueue });
  return child;
}
