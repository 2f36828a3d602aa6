import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_BOOT_ATTEMPTS, UpdateManager, type HealthCheck } from '../../../agent/index.ts';
import type { Telemetry } from '../../../core/index.ts';

const passes: HealthCheck = { command: ['sh', '-c', 'test -s "$UPROLL_ARTIFACT"'], timeoutMs: 5000 };
const fails: HealthCheck = { command: ['sh', '-c', 'echo crashed >&2; exit 1'], timeoutMs: 5000 };

/** A device that went down while revision 2 ran on trial in slot b. */
async function interruptedTrial(bootAttemptsSoFar = 0) {
  const dataDir = await mkdtemp(join(tmpdir(), 'uproll-trial-'));
  const reports: Telemetry[] = [];
  const manager = (healthCheck: HealthCheck) =>
    new UpdateManager({
      deviceId: 'd1',
      dataDir,
      healthCheck,
      report: (t) => Promise.resolve(void reports.push(t)),
    });
  const slots = manager(passes).slots;
  await mkdir(slots.slotDir('b'), { recursive: true });
  await writeFile(join(slots.slotDir('b'), 'rootfs.img'), 'revision 2');
  await slots.switchTo('b', { revision: '2', rolloutId: 'r1', artifact: 'rootfs.img' });
  for (let i = 0; i < bootAttemptsSoFar; i++) await slots.countBootAttemptIfOnTrial();
  return { manager, reports, slots };
}

describe('a trial interrupted by a crash', () => {
  it('is decided again at the next start: healthy, it commits and says so', async () => {
    const { manager, reports, slots } = await interruptedTrial();
    expect(await manager(passes).recover()).toBe('committed');
    expect(await slots.read()).toMatchObject({ active: 'b', trial: false, bootAttempts: 0 });
    expect(reports.map((r) => [r.rolloutId, r.phase])).toEqual([['r1', 'committed']]);
  });

  it('rolls back to the previous slot when the health check fails', async () => {
    const { manager, reports, slots } = await interruptedTrial();
    expect(await manager(fails).recover()).toBe('rolled_back');
    expect(await slots.read()).toMatchObject({ active: 'a', trial: false });
    expect(reports[0]).toMatchObject({ phase: 'rolled_back', error: { code: 'HEALTH_CHECK_FAILED' } });
  });

  it(`gives up after ${MAX_BOOT_ATTEMPTS} starts on trial and rolls back by itself`, async () => {
    const { manager, reports, slots } = await interruptedTrial(MAX_BOOT_ATTEMPTS);
    expect(await manager(passes).recover()).toBe('rolled_back'); // the health check is not asked again
    expect(await slots.read()).toMatchObject({ active: 'a', trial: false, bootAttempts: 0 });
    expect(reports[0]).toMatchObject({
      phase: 'rolled_back',
      activeSlot: 'a',
      error: { code: 'BOOT_ATTEMPTS_EXCEEDED' },
    });
  });

  it('leaves a device that was not on trial alone', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'uproll-trial-'));
    const reports: Telemetry[] = [];
    const manager = new UpdateManager({
      deviceId: 'd1',
      dataDir,
      report: (t) => Promise.resolve(void reports.push(t)),
    });
    expect(await manager.recover()).toBe('no trial');
    expect(reports).toEqual([]);
  });
});
