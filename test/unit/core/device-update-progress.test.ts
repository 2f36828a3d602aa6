import { describe, expect, it } from 'vitest';
import { DeviceUpdateProgress, type DevicePhase, type Telemetry } from '../../../core/index.ts';

function report(phase: DevicePhase, overrides: Partial<Telemetry> = {}): Telemetry {
  return {
    deviceId: 'd1',
    rolloutId: 'r1',
    revision: '2',
    phase,
    at: '2026-11-21T00:00:00.000Z',
    ...overrides,
  };
}

const phasesOf = (progress: DeviceUpdateProgress) => progress.phases.map((p) => p.phase);

describe('DeviceUpdateProgress', () => {
  it('waits for the command, download, verified install, healthy verdict, then the signed version report', () => {
    const progress = new DeviceUpdateProgress('d1', 'r1');
    const awaited = [progress.awaiting];
    progress.markCommanded();
    awaited.push(progress.awaiting);
    for (const phase of ['downloaded', 'verified', 'installed', 'healthy', 'committed'] as const) {
      progress.apply(report(phase));
      awaited.push(progress.awaiting);
    }
    progress.applyVersionReport({ revision: '2', counter: 7 }, '2');
    awaited.push(progress.awaiting);
    expect(awaited).toEqual([
      'command',
      'download',
      'install',
      'install',
      'verdict',
      'verdict',
      'report',
      undefined,
    ]);
    expect(progress.isFinished).toBe(true);
    expect(progress.versionReport).toEqual({ revision: '2', counter: 7 });
  });

  describe('the signed version report', () => {
    it('confirms only the revision being installed, once', () => {
      const progress = new DeviceUpdateProgress('d1', 'r1');
      expect(progress.applyVersionReport({ revision: '1', counter: 3 }, '2')).toBe(false);
      expect(progress.applyVersionReport({ revision: '2', counter: 4 }, '2')).toBe(true);
      expect(progress.applyVersionReport({ revision: '2', counter: 5 }, '2')).toBe(false);
      expect(progress.versionReport?.counter).toBe(4);
    });

    it('may come before the device says it committed: the update then waits for nothing more', () => {
      const progress = new DeviceUpdateProgress('d1', 'r1');
      progress.applyVersionReport({ revision: '2', counter: 4 }, '2');
      progress.apply(report('healthy'));
      expect(progress.awaiting).toBe('verdict');
      progress.apply(report('committed'));
      expect(progress.awaiting).toBeUndefined();
    });

    it('is not awaited after a roll back', () => {
      const progress = new DeviceUpdateProgress('d1', 'r1');
      progress.apply(report('installed'));
      progress.apply(report('rolled_back'));
      expect(progress.awaiting).toBeUndefined();
    });
  });

  describe('when telemetry is repeated or late', () => {
    it('moves only forward', () => {
      const progress = new DeviceUpdateProgress('d1', 'r1');
      progress.markCommanded();
      expect(progress.apply(report('installed'))).toBe(true);
      expect(progress.apply(report('installed'))).toBe(false);
      expect(progress.apply(report('downloaded'))).toBe(false);
      expect(phasesOf(progress)).toEqual(['commanded', 'installed']);
    });

    it('ignores everything after the update finished', () => {
      const progress = new DeviceUpdateProgress('d1', 'r1');
      progress.apply(report('rolled_back'));
      expect(progress.apply(report('committed'))).toBe(false);
      expect(progress.current?.phase).toBe('rolled_back');
    });
  });

  describe('when progress arrives before the command reply was processed', () => {
    it('counts the command as accepted, once', () => {
      const progress = new DeviceUpdateProgress('d1', 'r1');
      progress.apply(report('downloaded'));
      progress.markCommanded();
      expect(phasesOf(progress)).toEqual(['commanded', 'downloaded']);
    });
  });

  describe('when telemetry belongs to another device or rollout', () => {
    it('changes nothing', () => {
      const progress = new DeviceUpdateProgress('d1', 'r1');
      expect(progress.apply(report('downloaded', { deviceId: 'd2' }))).toBe(false);
      expect(progress.apply(report('downloaded', { rolloutId: 'r2' }))).toBe(false);
      expect(progress.phases).toEqual([]);
    });
  });

  it('says when a report would pass over phases not seen yet, and not for the next one or one of no effect', () => {
    const progress = new DeviceUpdateProgress('d1', 'r1');
    expect(progress.skipsPhases(report('downloaded'))).toBe(false); // commanded comes with it
    expect(progress.skipsPhases(report('installed'))).toBe(true);
    progress.markCommanded();
    progress.apply(report('downloaded'));
    expect(progress.skipsPhases(report('verified'))).toBe(false);
    expect(progress.skipsPhases(report('healthy'))).toBe(true);
    expect(progress.skipsPhases(report('healthy', { rolloutId: 'r2' }))).toBe(false);
    progress.apply(report('failed'));
    expect(progress.skipsPhases(report('committed'))).toBe(false); // finished: nothing applies
  });

  it('keeps the device report of each phase, e.g. the error of a failure', () => {
    const progress = new DeviceUpdateProgress('d1', 'r1');
    const failure = report('failed', { error: { code: 'HASH_MISMATCH', message: 'bad bytes' } });
    progress.apply(failure);
    expect(progress.current).toEqual({ phase: 'failed', report: failure });
    expect(progress.isFinished).toBe(true);
  });
});
