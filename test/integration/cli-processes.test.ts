import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { inject, afterAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import {
  localNatsTls,
  serviceCredentials,
  stackAddresses,
  requireSettings,
} from '../../services/dev-stack/index.ts';
import { connectToNats, ensureStreams, EventLog } from '../../services/nats/index.ts';
import { captureIo } from '../cli-io.ts';
import { spawnUproll, type CliProcess } from '../helpers/cli-process.ts';
import { eventually } from '../helpers/eventually.ts';
import { FIXTURE_NOW } from '../helpers/fixture-time.ts';
import { uniqueId } from './harness.ts';

const { stateDir } = inject('integration');
const started: CliProcess[] = [];
afterAll(() => {
  for (const { child } of started) if (child.exitCode === null) child.kill('SIGKILL');
});

/**
 * What the worker said of itself: on the run's shared NATS its bridge also sees (and drops) the
 * telemetry of other files' devices, which says nothing about how it stops.
 */
const ownLines = (worker: CliProcess) =>
  worker.stderr.filter((line) => !line.startsWith('worker: telemetry dropped'));

/**
 * `uproll worker` in its own process, once it polls the task queue: a queue of its own, since
 * on the run's shared Temporal it would otherwise take other files' tasks, without their Director.
 */
async function startWorker(): Promise<CliProcess> {
  const taskQueue = uniqueId('cli-worker');
  const worker = spawnUproll(['worker', '--json', '--state-dir', stateDir, '--task-queue', taskQueue]);
  started.push(worker);
  const ready = await eventually('the worker to say it is ready', () => worker.stdout[0]);
  expect(JSON.parse(ready)).toMatchObject({ ready: true, taskQueue });
  return worker;
}

describe('uproll worker', () => {
  describe('when it is sent SIGTERM', () => {
    it('stops cleanly and exits 0, without an error', async () => {
      const worker = await startWorker();
      worker.child.kill('SIGTERM');
      const exit = await worker.exited;

      expect(exit).toEqual({ code: 0, signal: null });
      expect(ownLines(worker)).toEqual(['worker: SIGTERM, stopping', 'worker: stopped']);
    });
  });

  describe('when a second signal comes while it stops', () => {
    it('goes on stopping and exits 0', async () => {
      const worker = await startWorker();
      // Two signals at once (a signal sent twice may merge into one): the stop takes longer than this.
      worker.child.kill('SIGTERM');
      worker.child.kill('SIGINT');
      const exit = await worker.exited;

      expect(exit).toEqual({ code: 0, signal: null });
      expect(ownLines(worker)).toEqual([
        expect.stringMatching(/^worker: SIG(TERM|INT), stopping$/),
        expect.stringMatching(/^worker: already stopping \(SIG(TERM|INT) ignored\)$/),
        'worker: stopped',
      ]);
    });
  });
});

describe('uproll rollout status', () => {
  describe('when no rollout has that id', () => {
    it('exits 1 with ROLLOUT_NOT_FOUND, in one line', async () => {
      const io = captureIo();
      const status = await main(['rollout', 'status', 'nosuch', '--state-dir', stateDir], io);

      expect(status).toBe(1);
      expect(io.stderr()).toBe(
        'uproll: ROLLOUT_NOT_FOUND: rollout nosuch does not exist (uproll rollout start creates it)',
      );
    });
  });
});

describe('uproll piped into head', () => {
  it('stops quietly once head has read its line', async () => {
    const deviceId = uniqueId('epipe');
    await appendEvents(deviceId, 1500); // far more than a pipe holds, so writes go on after head exits
    const { stdout, stderr } = await promisify(execFile)('sh', [
      '-c',
      `"${process.execPath}" bin/uproll.js events tail --aggregate device --id ${deviceId} --state-dir "${stateDir}" | head -1`,
    ]);

    expect(stdout.trim().split('\n')).toEqual([expect.stringContaining(`device/${deviceId}`)]);
    expect(stderr).toBe('');
  });

  it('with --follow, stops following once head has read its line (nobody is left to print for)', async () => {
    const deviceId = uniqueId('epipe-follow');
    await appendEvents(deviceId, 1500); // the backlog alone fills the pipe, so head exits before the follow
    // The shell waits for both ends of the pipe: a follow that went on unread would hang here.
    const { stdout, stderr } = await promisify(execFile)('sh', [
      '-c',
      `"${process.execPath}" bin/uproll.js events tail --follow --aggregate device --id ${deviceId} --state-dir "${stateDir}" | head -1`,
    ]);

    expect(stdout.trim().split('\n')).toEqual([expect.stringContaining(`device/${deviceId}`)]);
    expect(stderr).toBe('');
  });
});

async function appendEvents(deviceId: string, count: number): Promise<void> {
  const nc = await connectToNats({
    servers: stackAddresses(await requireSettings(stateDir)).nats,
    tls: await localNatsTls(stateDir),
    nkeySeed: await serviceCredentials(stateDir),
    name: 'cli-processes-test',
  });
  try {
    await ensureStreams(nc);
    const log = new EventLog(nc);
    for (let n = 0; n < count; n++)
      await log.append(
        {
          aggregate: 'device',
          aggregateId: deviceId,
          type: 'device.test.noted',
          at: FIXTURE_NOW.toISOString(),
          data: { n },
        },
        { msgId: `${deviceId}/${n}` },
      );
  } finally {
    await nc.close();
  }
}
