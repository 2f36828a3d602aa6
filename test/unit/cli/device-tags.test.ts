import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main as uproll } from '../../../cli/main.ts';
import { deviceTags, targetDevices } from '../../../services/director/index.ts';
import { startSimulatedRepositories } from '../../../sim/index.ts';
import { captureIo } from '../../cli-io.ts';

// Tags kept by the Director, and the rollout target they make, without a
// stack: the audit events wait in the state directory's outbox.
let dir: string;
let stateDir: string;
let repos: Awaited<ReturnType<typeof startSimulatedRepositories>>;
const DEVICES = ['tag-a', 'tag-b', 'tag-c'];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uproll-cli-tags-'));
  stateDir = join(dir, 'state');
  repos = await startSimulatedRepositories(join(dir, 'repositories'));
  for (const deviceId of DEVICES) await repos.enroll(deviceId);
});
afterAll(async () => {
  await repos.close();
  await rm(dir, { recursive: true, force: true });
});

async function run(...argv: string[]) {
  const io = captureIo();
  const status = await uproll([...argv, '--state-dir', stateDir, '--director', repos.director.dir], io);
  return { status, stdout: io.stdout(), stderr: io.stderr() };
}

async function auditEvents(): Promise<
  { type: string; aggregateId: string; data: Record<string, unknown> }[]
> {
  const text = await readFile(join(stateDir, 'audit-outbox.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { event: never }).event);
}

describe('uproll devices tag', () => {
  it('adds and removes tags, kept by the Director, each change on the audit trail with who made it', async () => {
    expect(await run('devices', 'tag', 'tag-a', 'site.berlin', 'lab', '--by', 'olga')).toMatchObject({
      status: 0,
      stdout: 'tag-a: lab site.berlin',
    });
    expect(await run('devices', 'tag', 'tag-b', 'site.berlin', '--by', 'olga')).toMatchObject({ status: 0 });
    const removed = await run('devices', 'tag', 'tag-a', '--remove', 'lab', '--by', 'piet', '--json');
    expect(JSON.parse(removed.stdout)).toEqual({
      deviceId: 'tag-a',
      tags: ['site.berlin'],
      added: [],
      removed: ['lab'],
    });
    expect(await deviceTags(repos.director, 'tag-a')).toEqual(['site.berlin']);

    const tagged = (await auditEvents()).filter((e) => e.type === 'device.tagged');
    expect(tagged.map((e) => [e.aggregateId, e.data['by'], e.data['summary']])).toEqual([
      ['tag-a', 'olga', 'tagged lab site.berlin'],
      ['tag-b', 'olga', 'tagged site.berlin'],
      ['tag-a', 'piet', 'untagged lab'],
    ]);
  });

  it('records nothing when nothing changes', async () => {
    const before = (await auditEvents()).length;
    expect(await run('devices', 'tag', 'tag-c', '--remove', 'never-had', '--by', 'olga')).toMatchObject({
      status: 0,
      stdout: 'tag-c: no tags (unchanged)',
    });
    expect(await auditEvents()).toHaveLength(before);
  });

  it('refuses a bad tag, too many tags and an unknown device, changing nothing', async () => {
    const many = Array.from({ length: 33 }, (_, i) => `t${i}`);
    for (const argv of [
      ['tag-c', 'Not A Tag'],
      ['tag-c', '--remove', '../x'],
      ['tag-c', ...many],
      ['no-such-device', 'lab'],
      ['bad/id', 'lab'],
    ]) {
      const refused = await run('devices', 'tag', ...argv, '--by', 'olga');
      expect(refused.status, argv.join(' ')).toBe(1);
      expect(refused.stderr).toMatch(/^uproll: INVALID_INPUT: /);
    }
    expect(await deviceTags(repos.director, 'tag-c')).toEqual([]);
    expect(await run('devices', 'tag', 'tag-c', '--by', 'olga')).toMatchObject({ status: 2 });
  });
});

describe('a rollout target by tag', () => {
  it('names exactly the devices that carry the tag now', async () => {
    await run('devices', 'tag', 'tag-c', 'night-shift', '--by', 'olga');
    expect((await targetDevices(repos.director, { tag: 'site.berlin' })).sort()).toEqual(['tag-a', 'tag-b']);
    expect(await targetDevices(repos.director, { tag: 'night-shift' })).toEqual(['tag-c']);
    expect(await targetDevices(repos.director, { tag: 'nobody' })).toEqual([]);
  });

  it('rollout plan --tag plans those devices; a tag no device carries is refused, naming it', async () => {
    const plan = await run('rollout', 'plan', '--tag', 'site.berlin', '--canary', '1');
    expect(plan).toMatchObject({
      status: 0,
      stdout: 'wave 0 (canary): 1 devices  tag-a\nwave 1: 1 devices  tag-b',
    });
    const none = await run('rollout', 'plan', '--tag', 'nobody');
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/^uproll: INVALID_INPUT: no device: tag nobody names no device/);
    expect(await run('rollout', 'plan', '--tag', 'lab', '--hardware-id', 'hw')).toMatchObject({ status: 2 });
  });
});

describe('a rollout target that lists its devices', () => {
  it('is checked against the inventory in one read, never record by record', async () => {
    const director = Object.create(repos.director) as typeof repos.director;
    director.inventory = () => Promise.reject(new Error('read each device record'));
    expect(await targetDevices(director, { devices: ['tag-b', 'tag-a'] })).toEqual(['tag-b', 'tag-a']);
  });

  it('is refused when a device is unknown, naming how many and the first', async () => {
    await expect(targetDevices(repos.director, { devices: ['tag-a', 'nobody'] })).rejects.toThrow(
      'device nobody is not registered with the Director',
    );
    await expect(targetDevices(repos.director, { devices: ['ghost-1', 'tag-a', 'ghost-2'] })).rejects.toThrow(
      '2 devices are not registered with the Director, the first: ghost-1',
    );
  });
});
