import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { MAX_HISTORY_BYTES } from '../../cli/commands/dev-record-history.ts';
import { runCliInProcess } from '../helpers/cli-in-process.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

// `uproll dev record-history` (`npm run record-history`), the recorder of the
// replay fixtures, against the run's real Temporal.
let h: Harness;
let dir: string;
beforeAll(async () => {
  h = await startHarness();
  await h.startWorker();
  dir = await mkdtemp(join(tmpdir(), 'uproll-histories-'));
});
afterAll(async () => {
  await h?.close();
  await rm(dir, { recursive: true, force: true });
});

const recordHistory = (...argv: string[]) =>
  runCliInProcess(['dev', 'record-history', ...argv, '--state-dir', h.stateDir]);

/** A device update of a device the fleet does not know: it ends at once, failed. */
async function endedUpdate(): Promise<string> {
  const handle = await h.startDeviceUpdate({
    deviceId: uniqueId('unknown'),
    command: { rolloutId: uniqueId('r'), revision: uniqueId('rev') },
  });
  await expect(handle.result()).rejects.toThrow();
  return handle.workflowId;
}

describe('uproll dev record-history', () => {
  describe('when the workflow has ended', () => {
    it('writes its history as JSON that replays on the current workflow code', async () => {
      const workflowId = await endedUpdate();
      const out = join(dir, 'nested', 'ended.json');

      const run = await recordHistory(workflowId, '--out', out, '--json');

      expect(run.status, run.stderr).toBe(0);
      const history = JSON.parse(await readFile(out, 'utf8')) as { events: { eventType: string }[] };
      expect([history.events.at(0)?.eventType, history.events.at(-1)?.eventType]).toEqual([
        'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED',
        'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED',
      ]);
      expect(JSON.parse(run.stdout)).toMatchObject({
        workflowId,
        workflowType: 'deviceUpdateWorkflow',
        status: 'FAILED',
        out,
        bytes: (await stat(out)).size,
      });
      await expect(
        Worker.runReplayHistory(
          { workflowBundle: { codePath: inject('integration').workflowBundlePath } },
          history,
        ),
      ).resolves.toBeUndefined();
    });
  });

  describe('when the file exists', () => {
    it('keeps it as it was and exits 1 with INVALID_INPUT', async () => {
      const out = join(dir, 'kept.json');
      expect((await recordHistory(await endedUpdate(), '--out', out)).status).toBe(0);
      const before = await readFile(out, 'utf8');

      const again = await recordHistory(await endedUpdate(), '--out', out);

      expect(again.status).toBe(1);
      expect(again.stderr).toContain(`uproll: INVALID_INPUT: ${out} exists`);
      expect(await readFile(out, 'utf8')).toBe(before);
    });
  });

  describe('when the history is larger than a fixture may be', () => {
    it('writes nothing and exits 1 with LIMIT_EXCEEDED', async () => {
      // Started where no worker polls: its input alone makes the history too large.
      const handle = await h.client.workflow.start('deviceUpdateWorkflow', {
        taskQueue: uniqueId('unpolled'),
        workflowId: uniqueId('oversized'),
        args: [{ padding: 'x'.repeat(MAX_HISTORY_BYTES) }],
      });
      const out = join(dir, 'oversized.json');
      try {
        const run = await recordHistory(handle.workflowId, '--out', out);

        expect(run.status).toBe(1);
        expect(run.stderr).toMatch(/^uproll: LIMIT_EXCEEDED: the history of \S+ is \d+ KB, over the 200 KB/);
        await expect(stat(out)).rejects.toThrow(/ENOENT/);
      } finally {
        await handle.terminate();
      }
    });
  });

  describe('when no workflow has the id', () => {
    it('exits 1 with WORKFLOW_NOT_FOUND', async () => {
      const run = await recordHistory(uniqueId('missing'), '--out', join(dir, 'missing.json'));

      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(/^uproll: WORKFLOW_NOT_FOUND: workflow missing-\S+ does not exist/);
    });
  });
});
