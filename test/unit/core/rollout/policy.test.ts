import { describe, expect, it } from 'vitest';
import {
  classifyFailure,
  evaluateGate,
  planWaves,
  rolloutPolicySchema,
  type RolloutPolicyInput,
} from '../../../../core/index.ts';

const devices = (n: number) => Array.from({ length: n }, (_, i) => `d${i}`);
const sizes = (n: number, policy: RolloutPolicyInput) =>
  planWaves(devices(n), rolloutPolicySchema.parse(policy)).map((wave) => wave.length);

describe('planning waves', () => {
  it('starts with the canary, then grows by cumulative percentages', () => {
    expect(sizes(100, { canary: 2, waves: { percentages: [10, 50, 100] } })).toEqual([2, 8, 40, 50]);
  });

  it('puts every device in exactly one wave, in the order given', () => {
    const waves = planWaves(devices(37), rolloutPolicySchema.parse({ canary: 3 }));
    expect(waves.flat()).toEqual(devices(37));
  });

  it('ends with the rest when the percentages stop short of 100', () => {
    expect(sizes(10, { canary: 1, waves: { percentages: [50] } })).toEqual([1, 4, 5]);
  });

  it('ramps exponentially up to the cap', () => {
    expect(sizes(100, { canary: 1, waves: { exponential: { base: 2, factor: 2, cap: 16 } } })).toEqual([
      1, 2, 4, 8, 16, 16, 16, 16, 16, 5,
    ]);
  });

  it('makes one wave of a fleet smaller than the canary, and none of no fleet', () => {
    expect(sizes(2, { canary: 5 })).toEqual([2]);
    expect(sizes(0, {})).toEqual([]);
  });

  it('refuses a policy that does not make sense, naming the field', () => {
    const shrinking = rolloutPolicySchema.safeParse({ waves: { percentages: [50, 10] } });
    expect(shrinking.success).toBe(false);
    const rate = rolloutPolicySchema.safeParse({ gate: { maxFailureRate: 2 } });
    expect(rate.error?.issues[0]?.path).toEqual(['gate', 'maxFailureRate']);
  });
});

describe('the gate between waves', () => {
  const gate = rolloutPolicySchema.parse({ gate: { minSample: 5, maxFailureRate: 0.2 } }).gate;

  it('passes while too few devices have finished to judge', () => {
    expect(evaluateGate({ committed: 1, rolledBack: 3, failed: 0 }, gate)).toEqual({ pass: true });
  });

  it('passes at the allowed failure rate and stops above it, saying why', () => {
    expect(evaluateGate({ committed: 8, rolledBack: 1, failed: 1 }, gate)).toEqual({ pass: true });
    const verdict = evaluateGate({ committed: 7, rolledBack: 2, failed: 1 }, gate);
    expect(verdict).toMatchObject({ pass: false, failureRate: 0.3 });
    expect(verdict.pass || verdict.reason).toContain('3 of 10 devices');
  });
});

describe('abort criteria by failure class', () => {
  const gate = rolloutPolicySchema.parse({
    gate: { minSample: 10, maxFailureRate: 0.5, maxRateByClass: { unhealthy: 0.05 } },
  }).gate;

  it('stops when one class fails more often than its own limit, under the overall rate', () => {
    const counts = { committed: 18, rolledBack: 2, failed: 0 };
    const verdict = evaluateGate(counts, gate, { unhealthy: 2 });
    expect(verdict).toMatchObject({ pass: false });
    expect(verdict.pass || verdict.reason).toBe(
      '2 of 20 devices failed with unhealthy failures (10.0%), over the 5.0% the policy allows',
    );
  });

  it('passes when the other classes fail instead, and before the minimum sample', () => {
    expect(evaluateGate({ committed: 18, rolledBack: 0, failed: 2 }, gate, { other: 2 })).toEqual({
      pass: true,
    });
    expect(evaluateGate({ committed: 5, rolledBack: 4, failed: 0 }, gate, { unhealthy: 4 })).toEqual({
      pass: true,
    });
  });
});

describe('failure classes', () => {
  it.each([
    ['DOWNLOAD_FAILED', 'transient'],
    ['PHASE_TIMEOUT', 'transient'],
    ['DEVICE_BUSY', 'transient'],
    ['DEVICE_OFFLINE', 'offline'],
    ['THRESHOLD_NOT_MET', 'verification'],
    ['HASH_MISMATCH', 'verification'],
    ['HEALTH_CHECK_FAILED', 'unhealthy'],
    ['BOOT_FAILED', 'unhealthy'],
    ['NOT_ASSIGNED', 'other'],
    ['VERSION_REPORT_MISSING', 'other'],
  ])('%s is %s', (code, expected) => {
    expect(classifyFailure(code)).toBe(expected);
  });
});

describe('offline devices and maintenance windows in the policy', () => {
  it('reports offline devices as pending after two minutes unless told to wait for them', () => {
    expect(rolloutPolicySchema.parse({}).offline).toEqual({
      action: 'pending',
      afterMs: 120_000,
      waitMs: 7 * 24 * 3600_000,
      checkMs: 30_000,
    });
    expect(rolloutPolicySchema.parse({ offline: { action: 'wait' } }).offline.action).toBe('wait');
  });

  it('takes a maintenance window with a cron, a duration and a time zone', () => {
    const window = { cron: '0 2 * * 1-5', durationMs: 3 * 3600_000, timezone: 'Europe/Berlin' };
    expect(rolloutPolicySchema.parse({ maintenanceWindow: window }).maintenanceWindow).toEqual(window);
    expect(rolloutPolicySchema.parse({}).maintenanceWindow).toBeUndefined();
  });

  it.each([
    [{ cron: '0 25 * * *', durationMs: 3600_000 }, ['maintenanceWindow', 'cron']],
    [{ cron: '0 2 * * *', durationMs: 10 }, ['maintenanceWindow', 'durationMs']],
    [
      { cron: '0 2 * * *', durationMs: 3600_000, timezone: 'Mars/Olympus' },
      ['maintenanceWindow', 'timezone'],
    ],
  ])('refuses the window %j at %j', (maintenanceWindow, path) => {
    const parsed = rolloutPolicySchema.safeParse({ maintenanceWindow });
    expect(parsed.error?.issues[0]?.path).toEqual(path);
  });
});
