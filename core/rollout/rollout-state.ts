// Pure and deterministic (no clock, no zod): the rollout workflow keeps its state here.
import { UprollError } from '../errors.ts';
import { Bitset } from './bitset.ts';
import {
  classifyFailure,
  evaluateGate,
  type DeviceOutcome,
  type FailuresByClass,
  type GateVerdict,
  type OutcomeCounts,
} from './outcomes.ts';
import type { RolloutPolicy } from './policy.ts';

export type RolloutStatus = 'running' | 'paused' | 'completed' | 'aborted' | 'rolled_back';

/** What a person may ask of a running rollout (an Update each). */
export type RolloutCommand = 'pause' | 'resume' | 'abort' | 'rollback' | 'changePolicy';

/** The statuses each command is accepted in; anything else is refused before it is accepted. */
const ACCEPTED_IN: Record<RolloutCommand, readonly RolloutStatus[]> = {
  pause: ['running'],
  resume: ['paused'],
  abort: ['running', 'paused'],
  rollback: ['running', 'paused', 'completed', 'aborted'],
  changePolicy: ['running', 'paused'],
};

const VERBS: Record<RolloutCommand, string> = {
  pause: 'pause',
  resume: 'resume',
  abort: 'abort',
  rollback: 'roll back',
  changePolicy: 'change the policy of',
};

/** The failures a person reads in `rollout status`: the first ones, then only a count. */
export const MAX_FAILURE_RECORDS = 100;

export interface DeviceReason {
  code: string;
  message: string;
}

export interface DeviceFailure {
  deviceId: string;
  outcome: DeviceOutcome;
  reason: DeviceReason;
}

/** One device update as the rollout counts it. */
export interface DeviceResult {
  outcome: DeviceOutcome;
  attempts: number;
  reason?: DeviceReason | undefined;
}

/**
 * Everything a rollout carries across continue-as-new: counts, a cursor (the
 * running wave's finished and committed devices, by position), the bounded
 * failures, and the offline devices it still waits for. No per-device record
 * of committed devices: its size does not grow with the fleet.
 */
export interface CarriedRollout {
  status: RolloutStatus;
  policy: RolloutPolicy;
  /** Sizes of the waves; their devices are read, in order, from the rollout's target snapshot. */
  waves: number[];
  nextWave: number;
  counts: OutcomeCounts & { skipped: number };
  byClass: FailuresByClass;
  failures: DeviceFailure[];
  /** Failures past {@link MAX_FAILURE_RECORDS}: counted, not listed. */
  failuresOmitted: number;
  /** Offline devices (policy `offline`), by when the command found them offline. */
  pending: Record<string, number>;
  /** The running (or last finished) wave: hex bitsets over its positions. */
  wave: {
    index: number;
    /** Set once the wave has started (a run continued as new inside it resumes it). */
    started?: number | undefined;
    done: string;
    committed: string;
    finishedAt?: number | undefined;
  };
  offlineWaitSince?: number | undefined;
  /** Who asked for a rollback (a person, or `gate`); it is carried out before the rollout ends. */
  rollbackBy?: string | undefined;
  securityAlert: boolean;
}

/** What the rollout did on a breached gate, for its event log. */
export type BreachResult = { status: 'paused' | 'aborted'; rollback: boolean } | { status: 'unchanged' };

/**
 * A rollout's state and its guarded transitions: an aborted rollout stays
 * aborted (a failing gate cannot pause it again), a completed one cannot be
 * paused, a rollback asked for at any point before the end is carried out.
 */
export class RolloutState {
  #s: CarriedRollout;
  /** Set as the rollout records its end: from then on every command is refused. */
  #closed = false;
  #done: Bitset;
  #committed: Bitset;

  private constructor(carried: CarriedRollout) {
    this.#s = carried;
    const size = carried.waves[carried.wave.index] ?? 0;
    this.#done = Bitset.fromHex(size, carried.wave.done);
    this.#committed = Bitset.fromHex(size, carried.wave.committed);
  }

  /** A new rollout over `waves` (their sizes). */
  static start(policy: RolloutPolicy, waves: number[]): RolloutState {
    return new RolloutState({
      status: 'running',
      policy,
      waves,
      nextWave: 0,
      counts: { committed: 0, rolledBack: 0, failed: 0, skipped: 0 },
      byClass: {},
      failures: [],
      failuresOmitted: 0,
      pending: {},
      wave: { index: 0, done: '', committed: '' },
      securityAlert: false,
    });
  }

  /**
   * The plan of a rollout started with {@link RolloutState.start} before its
   * policy was known: commands accepted meanwhile (a pause) stand.
   */
  plan(policy: RolloutPolicy, waves: number[]): void {
    if (this.#s.waves.length > 0)
      throw new UprollError('INVALID_TRANSITION', 'the rollout is planned already');
    this.#s.policy = policy;
    this.#s.waves = waves;
  }

  static resume(carried: CarriedRollout): RolloutState {
    return new RolloutState(structuredCloneOf(carried));
  }

  /** The compact state to continue as new with. */
  carry(): CarriedRollout {
    return {
      ...this.#s,
      wave: { ...this.#s.wave, done: this.#done.toHex(), committed: this.#committed.toHex() },
    };
  }

  get status(): RolloutStatus {
    return this.#s.status;
  }
  get policy(): RolloutPolicy {
    return this.#s.policy;
  }
  get waves(): readonly number[] {
    return this.#s.waves;
  }
  get nextWave(): number {
    return this.#s.nextWave;
  }
  get isAborted(): boolean {
    return this.#s.status === 'aborted';
  }
  get securityAlert(): boolean {
    return this.#s.securityAlert;
  }
  get offlineWaitSince(): number | undefined {
    return this.#s.offlineWaitSince;
  }
  get counts(): Readonly<CarriedRollout['counts']> {
    return this.#s.counts;
  }
  get failures(): readonly DeviceFailure[] {
    return this.#s.failures;
  }
  get total(): number {
    return this.#s.waves.reduce((sum, size) => sum + size, 0);
  }
  /** Offset of wave `index` in the target snapshot. */
  waveOffset(index: number): number {
    return this.#s.waves.slice(0, index).reduce((sum, size) => sum + size, 0);
  }

  /** Throws `INVALID_TRANSITION` (or `ALREADY_ROLLED_BACK`) when the status does not allow `command`. */
  assertAccepts(command: RolloutCommand): void {
    const status = this.#s.status;
    if (this.#closed)
      throw new UprollError(
        'INVALID_TRANSITION',
        `cannot ${VERBS[command]} a rollout that is ending (${status}): ask again once it has ended`,
      );
    if (ACCEPTED_IN[command].includes(status)) return;
    if (command === 'rollback' && status === 'rolled_back')
      throw new UprollError('ALREADY_ROLLED_BACK', 'the rollout was rolled back already');
    throw new UprollError('INVALID_TRANSITION', `cannot ${VERBS[command]} a rollout that is ${status}`);
  }

  pause(): void {
    this.assertAccepts('pause');
    this.#s.status = 'paused';
  }
  resume(): void {
    this.assertAccepts('resume');
    this.#s.status = 'running';
  }
  abort(): void {
    this.assertAccepts('abort');
    this.#s.status = 'aborted';
  }
  changePolicy(policy: RolloutPolicy): void {
    this.assertAccepts('changePolicy');
    this.#s.policy = policy;
  }

  /** Aborts (a completed rollout too) and has the devices it committed returned before it ends. */
  requestRollback(by: string): void {
    this.assertAccepts('rollback');
    this.#s.status = 'aborted';
    this.#s.rollbackBy ??= by;
  }

  /** Who asked for the rollback that is still to be carried out, if one is. */
  get rollbackDue(): string | undefined {
    return this.#s.status === 'rolled_back' ? undefined : this.#s.rollbackBy;
  }

  rolledBack(): void {
    if (this.#s.rollbackBy === undefined)
      throw new UprollError('INVALID_TRANSITION', 'no rollback was asked for');
    this.#s.status = 'rolled_back';
  }

  /** The end of a rollout that still runs; any other status stays as it is. */
  complete(): void {
    if (this.#s.status === 'running') this.#s.status = 'completed';
  }

  /** The rollout records its end: no command is accepted any more (a rollback then is the rollback workflow's). */
  close(): void {
    if (this.rollbackDue !== undefined)
      throw new UprollError('INVALID_TRANSITION', 'a rollback is still to be carried out');
    this.#closed = true;
  }

  /**
   * A breached gate pauses or aborts by policy, but never undoes an abort
   * (a person's, during the soak): an aborted rollout stays aborted.
   */
  breach(): BreachResult {
    const { onBreach } = this.#s.policy;
    if (this.isAborted || this.#s.status === 'rolled_back' || this.#s.status === 'completed')
      return { status: 'unchanged' };
    if (onBreach === 'pause') {
      this.#s.status = 'paused';
      return { status: 'paused', rollback: false };
    }
    this.#s.status = 'aborted';
    if (onBreach === 'abort_and_rollback') this.#s.rollbackBy ??= 'gate';
    return { status: 'aborted', rollback: onBreach === 'abort_and_rollback' };
  }

  /** A failed verification pauses a running rollout for a person (true when it did). */
  raiseSecurityAlert(): boolean {
    this.#s.securityAlert = true;
    if (this.#s.status !== 'running') return false;
    this.#s.status = 'paused';
    return true;
  }

  /** Starts the next wave (or resumes it after continue-as-new: its finished devices stay finished). */
  startWave(): { index: number; offset: number; size: number; resumed: boolean } {
    const index = this.#s.nextWave;
    const size = this.#s.waves[index] ?? 0;
    const resumed = this.#s.wave.started === index && this.#done.size === size;
    if (!resumed) {
      this.#s.wave = { index, started: index, done: '', committed: '' };
      this.#done = new Bitset(size);
      this.#committed = new Bitset(size);
    }
    return { index, offset: this.waveOffset(index), size, resumed };
  }

  /** Whether the device at `position` of the running wave has its outcome already. */
  isDone(position: number): boolean {
    return this.#done.has(position);
  }

  finishWave(now: number): void {
    this.#s.wave.finishedAt = now;
    this.#s.wave.started = undefined;
    this.#s.nextWave += 1;
  }

  /** Devices that joined a dynamic target since the plan: one more wave. */
  addWave(size: number): void {
    if (size > 0) this.#s.waves.push(size);
  }

  /** Positions of the last wave's devices that committed: the ones the soak checks. */
  committedInWave(): { index: number; positions: number[]; finishedAt: number } {
    const positions: number[] = [];
    for (let i = 0; i < this.#committed.size; i++) if (this.#committed.has(i)) positions.push(i);
    return { index: this.#s.wave.index, positions, finishedAt: this.#s.wave.finishedAt ?? 0 };
  }

  get soakDue(): boolean {
    return this.#s.policy.gate.soakMs > 0 && this.#s.nextWave < this.#s.waves.length;
  }

  /**
   * Records a device's outcome; `position` is its place in the running wave
   * (absent for an offline device updated after the waves).
   */
  record(deviceId: string, result: DeviceResult, now: number, position?: number): void {
    this.#forget(deviceId);
    if (position !== undefined) this.#done.set(position);
    const { outcome, reason } = result;
    if (outcome === 'committed') {
      this.#s.counts.committed += 1;
      if (position !== undefined) this.#committed.set(position);
    } else if (outcome === 'rolled_back' || outcome === 'failed') {
      this.#s.counts[outcome === 'failed' ? 'failed' : 'rolledBack'] += 1;
      if (reason) {
        const failureClass = classifyFailure(reason.code);
        this.#s.byClass[failureClass] = (this.#s.byClass[failureClass] ?? 0) + 1;
      }
    } else if (outcome === 'skipped') {
      this.#s.counts.skipped += 1;
    } else {
      this.#s.pending[deviceId] = now;
    }
    if (outcome !== 'committed' && reason) this.#listFailure({ deviceId, outcome, reason });
    // Whatever the outcome, a failed verification holds the gates until a person looks.
    if (reason && classifyFailure(reason.code) === 'verification') this.#s.securityAlert = true;
  }

  /**
   * A committed device that went back (the soak found it on another revision,
   * or the rollout's rollback sent it back): it counts as rolled back.
   * `position`: its place in the last wave (the soak's case).
   */
  revoke(deviceId: string, reason: DeviceReason, position?: number): void {
    if (position !== undefined) {
      if (!this.#committed.has(position)) return;
      this.#committed.set(position, false);
    }
    this.#s.counts.committed -= 1;
    this.record(deviceId, { outcome: 'rolled_back', attempts: 1, reason }, 0);
  }

  /** Devices of the running wave without an outcome yet. */
  undoneInWave(): number {
    return this.#done.size - this.#done.count();
  }

  gate(): GateVerdict {
    const { committed, rolledBack, failed } = this.#s.counts;
    return evaluateGate({ committed, rolledBack, failed }, this.#s.policy.gate, this.#s.byClass);
  }

  /** Offline devices still to update, with when each was found offline. */
  pendingDevices(): [deviceId: string, since: number][] {
    return Object.entries(this.#s.pending);
  }

  /** Starts the wait for offline devices (policy `offline: wait`); false when it had started already. */
  startOfflineWait(now: number): boolean {
    if (this.#s.offlineWaitSince !== undefined) return false;
    this.#s.offlineWaitSince = now;
    return true;
  }

  /** Whether the rollout still waits for offline devices to come back. */
  waitsForOffline(now: number): boolean {
    const since = this.#s.offlineWaitSince;
    return (
      !this.isAborted &&
      since !== undefined &&
      now - since < this.#s.policy.offline.waitMs &&
      this.pendingDevices().length > 0
    );
  }

  #forget(deviceId: string): void {
    if (!(deviceId in this.#s.pending)) return;
    delete this.#s.pending[deviceId];
    this.#s.failures = this.#s.failures.filter((failure) => failure.deviceId !== deviceId);
  }

  #listFailure(failure: DeviceFailure): void {
    if (this.#s.failures.length < MAX_FAILURE_RECORDS) this.#s.failures.push(failure);
    else this.#s.failuresOmitted += 1;
  }
}

function structuredCloneOf(carried: CarriedRollout): CarriedRollout {
  return JSON.parse(JSON.stringify(carried)) as CarriedRollout;
}
