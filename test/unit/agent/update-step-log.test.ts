import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatLogRecord, updateStepRecord, type UpdateStep } from '../../../agent/index.ts';
import { randomArtifacts, shellCheck, startAgentRig, type AgentRig } from '../../helpers/agent-rig.ts';

let rig: AgentRig;
let steps: UpdateStep[];
beforeEach(async () => {
  rig = await startAgentRig({ healthCheck: shellCheck('test -s part-0.bin') });
  steps = [];
  rig.restart({ onStep: (step) => steps.push(step) });
});
afterEach(() => rig?.close());

/** The lines a field engineer reads with journalctl (the journal shows the priority, not `<N>`). */
const journalLines = () =>
  steps.map((step) => formatLogRecord(updateStepRecord(step), { style: 'text', journal: true }));

describe('the log of one update', () => {
  describe('when it commits', () => {
    it('has a line per step, each with rollout, revision and phase, download progress up to 100%', async () => {
      await rig.release('1.0', randomArtifacts(2, 64 * 1024));
      await rig.update('1.0', 'r-ok');
      const lines = journalLines();
      const at = (phase: string) => lines.findIndex((line) => line.includes(` phase=${phase}`));
      const downloading = lines.filter((line) => line.includes(' phase=downloading '));

      expect(lines[0]).toBe('<6>update accepted rollout=r-ok revision=1.0 phase=accepted source=command');
      expect(downloading[0]).toBe(
        '<6>downloading rollout=r-ok revision=1.0 phase=downloading objects=2 received=0 total=131072 percent=0',
      );
      expect(downloading.at(-1)).toBe(
        '<6>downloading rollout=r-ok revision=1.0 phase=downloading received=131072 total=131072 percent=100',
      );
      expect(downloading.length).toBeLessThanOrEqual(11); // one per tenth, not per chunk
      expect(lines.slice(at('downloaded'))).toEqual([
        '<6>downloaded rollout=r-ok revision=1.0 phase=downloaded bytes=131072',
        '<6>objects verified rollout=r-ok revision=1.0 phase=verified',
        '<6>writing the new deployment rollout=r-ok revision=1.0 phase=writing',
        '<5>switched to the new deployment, on trial rollout=r-ok revision=1.0 phase=switched deployment=a',
        '<6>health check passed rollout=r-ok revision=1.0 phase=healthy deployment=a',
        '<5>committed rollout=r-ok revision=1.0 phase=committed deployment=a',
      ]);
      expect(at('accepted')).toBeLessThan(at('downloading'));
    });
  });

  describe('when its health check fails', () => {
    it('logs unhealthy, then rolled back, as warnings with the code', async () => {
      await rig.release('1.0', randomArtifacts(1));
      await rig.update('1.0', 'r-1');
      await rig.release('2.0', [{ path: 'other.bin', bytes: Buffer.from('no part-0 here') }]);
      steps = [];
      await rig.update('2.0', 'r-bad');

      expect(journalLines().slice(-2)).toEqual([
        expect.stringMatching(
          /^<4>health check failed rollout=r-bad revision=2\.0 phase=unhealthy code=HEALTH_CHECK_FAILED error=".+"$/,
        ),
        expect.stringMatching(
          /^<4>rolled back rollout=r-bad revision=2\.0 phase=rolled_back deployment=a code=HEALTH_CHECK_FAILED error=".+"$/,
        ),
      ]);
    });
  });

  describe('when the Director does not assign the commanded revision', () => {
    it('logs the failure as an error with its code', async () => {
      await rig.update('9.9', 'r-none');

      expect(journalLines()).toEqual([
        '<6>update accepted rollout=r-none revision=9.9 phase=accepted source=command',
        expect.stringMatching(
          /^<3>update failed rollout=r-none revision=9\.9 phase=failed code=NOT_ASSIGNED error=".+"$/,
        ),
      ]);
    });
  });
});
