import { describe, expect, it } from 'vitest';
import { printRolloutList } from '../../../cli/commands/rollout-list.ts';
import { rolloutListRows } from '../../../services/projections/index.ts';
import { captureIo } from '../../cli-io.ts';
import type { RolloutView } from '../../../services/projections/index.ts';

function view(rolloutId: string, fields: Partial<RolloutView>): RolloutView {
  return {
    rolloutId,
    status: 'running',
    waves: [1],
    wavesFinished: 0,
    counts: { committed: 0, rolledBack: 0, failed: 0 },
    securityAlerts: [],
    updatedAt: '2026-11-01T12:00:00.000Z',
    lastSequence: 1,
    ...fields,
  };
}

describe('rollout list rows', () => {
  const views = [
    view('old', {
      status: 'completed',
      startedAt: '2026-11-01T10:00:00.000Z',
      endedAt: '2026-11-01T11:00:00.000Z',
      counts: { committed: 1, rolledBack: 0, failed: 0 },
      reportedCounts: { committed: 0, rolledBack: 2, failed: 0 },
      skipped: 1,
    }),
    view('new', {
      startedAt: '2026-11-02T10:00:00.000Z',
      counts: { committed: 4, rolledBack: 0, failed: 1 },
    }),
    view('never-started', {}),
  ];

  it('puts the newest start first, and a rollout whose start the log lacks last', () => {
    expect(rolloutListRows(views).map((row) => row.rolloutId)).toEqual(['new', 'old', 'never-started']);
  });

  it('counts an ended rollout as it reported at its end, a running one by its device events', () => {
    const [running, ended] = rolloutListRows(views);
    expect(running).toMatchObject({ committed: 4, failed: 1, skipped: null });
    expect(ended).toMatchObject({ committed: 0, rolledBack: 2, skipped: 1 });
  });

  it('keeps only the status asked for', () => {
    expect(rolloutListRows(views, 'completed').map((row) => row.rolloutId)).toEqual(['old']);
  });

  it('says how to build the projection when it holds no rollout yet, and when none has the status', () => {
    const empty = captureIo();
    printRolloutList([], undefined, false, empty);
    expect(empty.stdout()).toBe(
      'no rollouts in the projection yet (`uproll events rebuild` builds it from the event log)',
    );
    const none = captureIo();
    printRolloutList(views, 'aborted', false, none);
    expect(none.stdout()).toBe('no aborted rollouts (of 3)');
  });
});
