import { describe, expect, it } from 'vitest';
import {
  afterFailure,
  isBack,
  MAX_FAILURE_RECORDS,
  planWaveSizes,
  rolloutPolicySchema,
  RolloutState,
  runsAnotherRevision,
  windowOpensAt,
  type CarriedRollout,
  type RolloutPolicyInput,
} from '../../../../core/index.ts';

/** A fake clock: tests move it, nothing reads the real one. */
function fakeClock(start = Date.UTC(2030, 0, 7, 12)) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function rollout(policy: RolloutPolicyInput = {}, devices = 10): RolloutState {
  const parsed = rolloutPolicySchema.parse(policy);
  return RolloutState.start(parsed, planWaveSizes(devices, parsed));
}

const unhealthy = { code: 'HEALTH_CHECK_FAILED', message: 'health check failed' };

/** Runs the next wave with the outcomes given per position (committed for the rest). */
function runWave(state: RolloutState, now: number, failed: number[] = []): void {
  const { size } = state.startWave();
  for (let position = 0; position < size; position++) {
    const result = failed.includes(position)
      ? { outcome: 'failed' as const, attempts: 1, reason: unhealthy }
      : { outcome: 'committed' as const, attempts: 1 };
    state.record(`d${state.waveOffset(state.nextWave) + position}`, result, now, position);
  }
  state.finishWave(now);
}

describe('RolloutState', () => {
  describe('when a person aborts during the soak and the gate then fails with onBreach: pause', () => {
    it('stays aborted: the breach changes nothing', () => {
      const clock = fakeClock();
      const state = rollout({ canary: 2, gate: { soakMs: 60_000, maxFailureRate: 0 }, onBreach: 'pause' });
      runWave(state, clock.now(), [1]);
      clock.advance(30_000);
      state.abort(); // during the soak
      clock.advance(30_000);
      expect(state.gate().pass).toBe(false);
      expect(state.breach()).toEqual({ status: 'unchanged' });
      expect(state.status).toBe('aborted');
    });
  });

  describe('when a rollback is accepted just as the rollout completes', () => {
    it('is due until it is carried out, and the rollout cannot close before', () => {
      const state = rollout({ canary: 10 });
      runWave(state, 0);
      state.complete();
      state.requestRollback('rm-alice');
      expect(state.rollbackDue).toBe('rm-alice');
      state.rolledBack();
      expect(state.rollbackDue).toBeUndefined();
      expect(state.status).toBe('rolled_back');
    });

    it('is refused with INVALID_TRANSITION once the rollout records its end', () => {
      const state = rollout({ canary: 10 });
      runWave(state, 0);
      state.complete();
      state.close();
      expect(() => state.assertAccepts('rollback')).toThrowWithCode('INVALID_TRANSITION');
    });
  });

  describe('guarded transitions', () => {
    it('cannot pause a completed rollout, nor resume a running one, nor abort an aborted one', () => {
      const state = rollout();
      expect(() => state.resume()).toThrowWithCode('INVALID_TRANSITION');
      state.complete();
      expect(() => state.pause()).toThrowWithCode('INVALID_TRANSITION');
      const aborted = rollout();
      aborted.abort();
      expect(() => aborted.abort()).toThrowWithCode('INVALID_TRANSITION');
      expect(() => aborted.resume()).toThrowWithCode('INVALID_TRANSITION');
      aborted.complete();
      expect(aborted.status).toBe('aborted');
    });

    it('refuses a second rollback with ALREADY_ROLLED_BACK', () => {
      const state = rollout();
      state.requestRollback('ops');
      state.rolledBack();
      expect(() => state.requestRollback('ops')).toThrowWithCode('ALREADY_ROLLED_BACK');
    });

    it('pauses and resumes a running rollout', () => {
      const state = rollout();
      state.pause();
      expect(state.status).toBe('paused');
      state.resume();
      expect(state.status).toBe('running');
    });
  });

  describe('the gate', () => {
    it('passes below the failure rate and breaches above it, by policy', () => {
      const passing = rollout({ canary: 10, gate: { maxFailureRate: 0.2 } }, 20);
      runWave(passing, 0, [3]);
      expect(passing.gate().pass).toBe(true);

      const pausing = rollout({ canary: 10, gate: { maxFailureRate: 0.1 }, onBreach: 'pause' }, 20);
      runWave(pausing, 0, [1, 2]);
      expect(pausing.gate()).toMatchObject({ pass: false, failureRate: 0.2 });
      expect(pausing.breach()).toEqual({ status: 'paused', rollback: false });

      const rolling = rollout(
        { canary: 10, gate: { maxFailureRate: 0.1 }, onBreach: 'abort_and_rollback' },
        20,
      );
      runWave(rolling, 0, [1, 2]);
      expect(rolling.breach()).toEqual({ status: 'aborted', rollback: true });
      expect(rolling.rollbackDue).toBe('gate');
    });

    it('waits for the minimum sample', () => {
      const state = rollout({ canary: 2, gate: { minSample: 5, maxFailureRate: 0 } });
      runWave(state, 0, [0]);
      expect(state.gate().pass).toBe(true);
    });

    it('holds for a person after a failed verification, whatever the outcome recorded', () => {
      const state = rollout({ canary: 2 });
      state.startWave();
      state.record(
        'd0',
        { outcome: 'failed', attempts: 1, reason: { code: 'HASH_MISMATCH', message: 'x' } },
        0,
        0,
      );
      expect(state.securityAlert).toBe(true);
      expect(state.raiseSecurityAlert()).toBe(true);
      expect(state.status).toBe('paused');
      expect(state.raiseSecurityAlert()).toBe(false); // paused already
    });
  });

  describe('the soak', () => {
    it('is due between waves only, and turns a device that went back into a rolled-back one', () => {
      const clock = fakeClock();
      const state = rollout(
        { canary: 2, waves: { percentages: [100] }, gate: { soakMs: 1000, maxFailureRate: 0 } },
        4,
      );
      runWave(state, clock.now());
      expect(state.soakDue).toBe(true);
      const { positions, finishedAt } = state.committedInWave();
      expect(positions).toEqual([0, 1]);
      clock.advance(1000);
      const heard = { lastSeenAt: new Date(clock.now()).toISOString(), revision: 'r0' };
      expect(runsAnotherRevision(heard, finishedAt, 'r1')).toBe(true);
      expect(runsAnotherRevision({ ...heard, revision: 'r1' }, finishedAt, 'r1')).toBe(false);
      const stale = { lastSeenAt: new Date(finishedAt - 1).toISOString(), revision: 'r0' };
      expect(runsAnotherRevision(stale, finishedAt, 'r1')).toBe(false);
      state.revoke('d1', { code: 'UNHEALTHY_AFTER_COMMIT', message: 'runs r0' }, 1);
      state.revoke('d1', { code: 'UNHEALTHY_AFTER_COMMIT', message: 'runs r0' }, 1); // once only
      expect(state.counts).toMatchObject({ committed: 1, rolledBack: 1 });
      expect(state.gate().pass).toBe(false);
      runWave(state, clock.now());
      expect(state.soakDue).toBe(false); // after the last wave
    });
  });

  describe('maintenance windows', () => {
    const window = { cron: '0 2 * * *', durationMs: 3_600_000 };

    it('defers a device outside its window until it opens, in its own time zone', () => {
      const clock = fakeClock(Date.UTC(2030, 0, 7, 12)); // 12:00 UTC
      expect(windowOpensAt(window, clock.now())).toBe(Date.UTC(2030, 0, 8, 2));
      expect(windowOpensAt(window, clock.now(), 'Asia/Tokyo')).toBe(Date.UTC(2030, 0, 7, 17)); // 02:00 JST
      clock.advance(14 * 3_600_000 + 60_000); // 02:01 UTC the next day
      expect(windowOpensAt(window, clock.now())).toBeUndefined();
      expect(windowOpensAt(undefined, clock.now())).toBeUndefined();
    });
  });

  describe('offline devices', () => {
    it('are pending, not failed, and waited for until waitMs has passed', () => {
      const clock = fakeClock();
      const state = rollout({ canary: 2, offline: { action: 'wait', waitMs: 60_000 } }, 2);
      state.startWave();
      const offline = { code: 'DEVICE_OFFLINE', message: 'no answer' };
      state.record('d0', { outcome: 'pending', attempts: 1, reason: offline }, clock.now(), 0);
      state.record('d1', { outcome: 'committed', attempts: 1 }, clock.now(), 1);
      state.finishWave(clock.now());
      expect(state.gate().pass).toBe(true);
      expect(state.pendingDevices()).toEqual([['d0', clock.now()]]);
      expect(state.startOfflineWait(clock.now())).toBe(true);
      expect(state.startOfflineWait(clock.now())).toBe(false);
      expect(state.waitsForOffline(clock.now())).toBe(true);
      const since = clock.now();
      clock.advance(30_000);
      expect(isBack({ lastSeenAt: new Date(clock.now()).toISOString() }, since)).toBe(true);
      expect(isBack({ lastSeenAt: new Date(since - 1).toISOString() }, since)).toBe(false);
      clock.advance(30_000);
      expect(state.waitsForOffline(clock.now())).toBe(false);
    });

    it('stop being pending once their update has an outcome', () => {
      const state = rollout({ canary: 1, offline: { action: 'wait' } }, 1);
      state.startWave();
      state.record(
        'd0',
        { outcome: 'pending', attempts: 1, reason: { code: 'DEVICE_OFFLINE', message: '' } },
        0,
        0,
      );
      state.finishWave(0);
      state.startOfflineWait(0);
      state.record('d0', { outcome: 'committed', attempts: 1 }, 5);
      expect(state.pendingDevices()).toEqual([]);
      expect(state.failures).toEqual([]);
      expect(state.waitsForOffline(5)).toBe(false);
    });
  });

  describe('retries', () => {
    const policy = rolloutPolicySchema.parse({ retries: { transient: 2, backoffMs: 1000 } });

    it('retries transient failures with exponential backoff, then fails', () => {
      expect(afterFailure(policy, 'DOWNLOAD_FAILED', 1)).toEqual({ action: 'retry', backoffMs: 1000 });
      expect(afterFailure(policy, 'DOWNLOAD_FAILED', 2)).toEqual({ action: 'retry', backoffMs: 2000 });
      expect(afterFailure(policy, 'DOWNLOAD_FAILED', 3)).toEqual({ action: 'fail', security: false });
    });

    it('never retries a verification failure, and waits for an offline device', () => {
      expect(afterFailure(policy, 'HASH_MISMATCH', 1)).toEqual({ action: 'fail', security: true });
      expect(afterFailure(policy, 'DEVICE_OFFLINE', 1)).toEqual({ action: 'pending' });
      expect(afterFailure(policy, 'HEALTH_CHECK_FAILED', 1)).toEqual({ action: 'fail', security: false });
    });
  });

  describe('continue-as-new', () => {
    it('resumes a wave where the run stopped: finished devices stay finished', () => {
      const state = rollout({ canary: 4 }, 4);
      expect(state.startWave().resumed).toBe(false);
      state.record('d0', { outcome: 'committed', attempts: 1 }, 0, 0);
      state.record('d2', { outcome: 'failed', attempts: 1, reason: unhealthy }, 0, 2);
      const next = RolloutState.resume(JSON.parse(JSON.stringify(state.carry())) as CarriedRollout);
      expect(next.startWave()).toMatchObject({ index: 0, offset: 0, size: 4, resumed: true });
      expect([0, 1, 2, 3].map((position) => next.isDone(position))).toEqual([true, false, true, false]);
      expect(next.undoneInWave()).toBe(2);
      expect(next.counts).toMatchObject({ committed: 1, failed: 1 });
      expect(next.committedInWave().positions).toEqual([0]);
    });

    it('carries far under 2 MB for 100,000 devices, mid-wave, with many failures', () => {
      const policy = rolloutPolicySchema.parse({ canary: 10, offline: { action: 'wait' } });
      const state = RolloutState.start(policy, planWaveSizes(100_000, policy));
      expect(state.waves).toEqual([10, 9990, 40000, 50000]);
      for (let wave = 0; wave < 3; wave++) {
        const { offset, size } = state.startWave();
        for (let position = 0; position < size; position++) {
          const deviceId = `device-${String(offset + position).padStart(8, '0')}`;
          const reason = {
            code: 'HEALTH_CHECK_FAILED',
            message: `${deviceId}: health check failed after boot`,
          };
          const result =
            position % 50 === 0
              ? { outcome: 'failed' as const, attempts: 1, reason }
              : position % 100 === 1
                ? {
                    outcome: 'pending' as const,
                    attempts: 1,
                    reason: { code: 'DEVICE_OFFLINE', message: 'no answer' },
                  }
                : { outcome: 'committed' as const, attempts: 1 };
          state.record(deviceId, result, 1_900_000_000_000 + position, position);
        }
        state.finishWave(1_900_000_000_000);
      }
      const { offset } = state.startWave(); // the last wave, half done
      for (let position = 0; position < 25_000; position++)
        state.record(`device-${offset + position}`, { outcome: 'committed', attempts: 1 }, 0, position);
      const bytes = new TextEncoder().encode(JSON.stringify(state.carry())).length;
      console.log(
        `carried state for 100,000 devices (1% offline, 2% failed, mid-wave): ${bytes} bytes; ` +
          `pending ${state.pendingDevices().length}, failures listed ${state.failures.length}`,
      );
      expect(state.failures.length).toBe(MAX_FAILURE_RECORDS);
      expect(bytes).toBeLessThan(200_000);
    });
  });
});
