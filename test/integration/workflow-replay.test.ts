import { readdir, readFile } from 'node:fs/promises';
import { Worker, type ReplayResult } from '@temporalio/worker';
import { beforeAll, describe, expect, it, inject } from 'vitest';
import { installTemporalRuntime } from '../../services/temporal/index.ts';

// Histories recorded from real runs of earlier versions of the workflows
// (`npm run record-history`), kept as Temporal wrote them: today's code must
// replay each one to the same commands, or the workflows in flight when the
// worker is upgraded would fail. One test per file, so a failure names it.
const HISTORIES = new URL('../fixtures/histories/', import.meta.url);
const files = (await readdir(HISTORIES)).filter((name) => name.endsWith('.json')).sort();

async function* recorded() {
  for (const file of files) {
    const text = await readFile(new URL(file, HISTORIES), 'utf8');
    // The file's name stands for the workflow id: each result says which file it replayed.
    yield { workflowId: file, history: JSON.parse(text) as unknown };
  }
}

const results = new Map<string, ReplayResult>();
beforeAll(async () => {
  installTemporalRuntime('ERROR');
  // One replay worker for every history, on the bundle the global setup made of today's code.
  const replays = Worker.runReplayHistories(
    { workflowBundle: { codePath: inject('integration').workflowBundlePath } },
    recorded(),
  );
  for await (const result of replays) results.set(result.workflowId, result);
});

describe('recorded workflow histories', () => {
  it('are there to replay', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files)('%s replays to the same commands on the current workflow code', (file) => {
    const result = results.get(file);
    expect(result, `${file} was not replayed`).toBeDefined();
    if (result?.error) throw result.error;
  });
});
