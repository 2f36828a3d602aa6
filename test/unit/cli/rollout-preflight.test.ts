import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main as uproll } from '../../../cli/main.ts';
import { SIM_HARDWARE_ID, startSimulatedRepositories } from '../../../sim/index.ts';
import { captureIo } from '../../cli-io.ts';

// What `rollout plan`, `start` and `retry-failed` decide from the repositories
// alone, before any Temporal or NATS: this state directory has no stack.
let dir: string;
let repos: Awaited<ReturnType<typeof startSimulatedRepositories>>;
let location: string[];
const DEVICES = ['pre-a', 'pre-b', 'pre-c'];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uproll-cli-rollout-'));
  repos = await startSimulatedRepositories(join(dir, 'repositories'));
  for (const deviceId of DEVICES) await repos.enroll(deviceId);
  await repos.publish('released-1.0', [{ path: 'app', bytes: new TextEncoder().encode('app 1.0') }]);
  location = ['--director', repos.director.dir, '--repo', repos.image.dir];
});
afterAll(async () => {
  await repos.close();
  await rm(dir, { recursive: true, force: true });
});

async function run(...argv: string[]) {
  const io = captureIo();
  const status = await uproll([...argv, '--state-dir', join(dir, 'state')], io);
  return { status, stdout: io.stdout(), stderr: io.stderr() };
}

describe('uproll rollout plan and start', () => {
  describe('when the target is a hardware id', () => {
    it('plans the devices of that hardware id in the Director named', async () => {
      const plan = await run(
        'rollout',
        'plan',
        '--hardware-id',
        SIM_HARDWARE_ID,
        '--canary',
        '1',
        ...location,
      );
      expect(plan).toMatchObject({ status: 0, stderr: '' });
      expect(plan.stdout.split('\n')).toEqual([
        'wave 0 (canary): 1 devices  pre-a',
        'wave 1: 1 devices  pre-b',
        'wave 2: 1 devices  pre-c',
      ]);
    });

    it('refuses, plan and start alike, a Director that knows no such device, naming the Director', async () => {
      const target = ['--hardware-id', SIM_HARDWARE_ID, '--repo', repos.image.dir];
      const plan = await run('rollout', 'plan', ...target);
      const start = await run('rollout', 'start', 'ro-1', '--revision', 'released-1.0', ...target);
      for (const refused of [plan, start]) {
        expect(refused.status).toBe(1);
        expect(refused.stdout).toBe('');
        expect(refused.stderr).toContain(`uproll: INVALID_INPUT: no device: hardware id ${SIM_HARDWARE_ID}`);
        expect(refused.stderr).toContain(join(dir, 'state', 'director'));
        expect(refused.stderr).toContain('--director names another Director');
      }
    });
  });

  describe('when the revision was never released', () => {
    it('refuses it before starting anything, listing the released revisions', async () => {
      const start = await run(
        'rollout',
        'start',
        'ro-2',
        '--revision',
        'nosuch',
        '--device',
        'pre-a',
        ...location,
      );
      expect(start.status).toBe(1);
      expect(start.stderr).toBe(
        `uproll: TARGET_NOT_FOUND: the Image repository at ${repos.image.dir} has not released revision "nosuch" (released: released-1.0)`,
      );
    });
  });

  describe('when a device of the target is unknown to the Director', () => {
    it('refuses to start', async () => {
      const start = await run(
        'rollout',
        'start',
        'ro-3',
        '--revision',
        'released-1.0',
        '--device',
        'nobody',
        ...location,
      );
      expect(start).toMatchObject({ status: 1 });
      expect(start.stderr).toContain('INVALID_INPUT: device nobody is not registered with the Director');
    });
  });
});

describe('uproll rollout retry-failed', () => {
  it('takes the location options (here it goes on to look for the stack)', async () => {
    const retry = await run('rollout', 'retry-failed', 'ro-1', ...location);
    expect(retry.status).toBe(1);
    expect(retry.stderr).toContain('STACK_NOT_RUNNING');
  });
});
