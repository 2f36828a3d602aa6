import { readFile } from 'node:fs/promises';
import { Worker } from '@temporalio/worker';
import { describe, expect, it, inject } from 'vitest';
import { installTemporalRuntime } from '../../services/temporal/index.ts';

// Histories recorded from earlier versions of the rollout workflow, kept as
// Temporal wrote them: today's code must replay each one to the same commands,
// or rollouts in flight when the worker is upgraded would fail.
const HISTORIES = new URL('../fixtures/histories/', import.meta.url);

async function replay(name: string): Promise<void> {
  installTemporalRuntime('ERROR');
  const history: unknown = JSON.parse(await readFile(new URL(name, HISTORIES), 'utf8'));
  await Worker.runReplayHistory(
    { workflowBundle: { codePath: inject('integration').workflowBundlePath } },
    history,
  );
}

describe('rolloutWorkflow replays recorded histories', () => {
  describe('when the gate failed on the last wave before pausing there was patched in', () => {
    it('replays to the end it had then (status paused, closed)', async () => {
      await expect(replay('rollout-gate-fails-on-last-wave.json')).resolves.toBeUndefined();
    });
  });
});
