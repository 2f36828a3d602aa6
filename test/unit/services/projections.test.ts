import { describe, expect, it } from 'vitest';
import type { DomainEvent } from '../../../core/index.ts';
import type { StoredEvent } from '../../../services/nats/index.ts';
import {
  emptyProjections,
  foldEvents,
  project,
  touchedKeys,
  type Projections,
} from '../../../services/projections/index.ts';

/** A log under construction: each event gets the next stream sequence and a time one second later. */
function log() {
  const events: StoredEvent[] = [];
  const at = (n: number) => new Date(Date.UTC(2026, 10, 1, 12, 0, n)).toISOString();
  const add = (
    aggregate: DomainEvent['aggregate'],
    aggregateId: string,
    type: string,
    data: unknown = {},
  ) => {
    const sequence = events.length + 1;
    const stored = { sequence, event: { aggregate, aggregateId, type, at: at(sequence), data } };
    events.push(stored);
    return stored;
  };
  return {
    events,
    at,
    rollout: (id: string, type: string, data: Record<string, unknown> = {}) =>
      add('rollout', id, `rollout.${type}`, data),
    device: (id: string, phase: string, data: Record<string, unknown>) =>
      add('device', id, `device.update.${phase}`, {
        workflowId: `device-update/${id}/${String(data['rolloutId'])}`,
        ...data,
      }),
    report: (id: string, type: 'accepted' | 'rejected', data: Record<string, unknown>) =>
      add('device', id, `device.report.${type}`, data),
    other: add,
    fold: () => foldEvents(emptyProjections(), events),
  };
}

/** Every phase of an update that commits. */
function commits(l: ReturnType<typeof log>, deviceId: string, rolloutId: string, revision: string) {
  for (const phase of ['started', 'commanded', 'downloaded', 'installed', 'committed'])
    l.device(deviceId, phase, { rolloutId, revision, ...(phase === 'committed' ? { deployment: 'b' } : {}) });
}

function started(l: ReturnType<typeof log>, rolloutId = 'ro-1', revision = 'rev-2') {
  l.rollout(rolloutId, 'started', { by: 'alice', revision, waves: [1, 2], policy: { canary: 1 } });
}

describe('rollout progress', () => {
  it('starts running with its revision, wave sizes, who started it and when', () => {
    const l = log();
    started(l);
    expect(l.fold().rollouts['ro-1']).toEqual({
      rolloutId: 'ro-1',
      status: 'running',
      revision: 'rev-2',
      startedBy: 'alice',
      startedAt: l.at(1),
      waves: [1, 2],
      wavesFinished: 0,
      counts: { committed: 0, rolledBack: 0, failed: 0 },
      securityAlerts: [],
      updatedAt: l.at(1),
      lastSequence: 1,
    });
  });

  it('follows the waves, the gate and the counts the rollout reports', () => {
    const l = log();
    started(l);
    l.rollout('ro-1', 'wave.started', { wave: 0, devices: 1 });
    expect(l.fold().rollouts['ro-1']).toMatchObject({ currentWave: 0, wavesFinished: 0 });
    l.rollout('ro-1', 'wave.finished', { wave: 0, counts: { committed: 1, rolledBack: 0, failed: 0 } });
    l.rollout('ro-1', 'gate.passed', { wave: 0 });
    expect(l.fold().rollouts['ro-1']).toMatchObject({
      wavesFinished: 1,
      reportedCounts: { committed: 1, rolledBack: 0, failed: 0 },
      lastGate: { wave: 0, passed: true },
    });
    l.rollout('ro-1', 'gate.failed', { wave: 1, reason: 'failure rate 0.5 > 0.1', failureRate: 0.5 });
    expect(l.fold().rollouts['ro-1']?.lastGate).toEqual({
      wave: 1,
      passed: false,
      reason: 'failure rate 0.5 > 0.1',
    });
  });

  it('names who paused, resumed and aborted, and why', () => {
    const l = log();
    started(l);
    l.rollout('ro-1', 'paused', { by: 'gate', reason: 'failure rate' });
    expect(l.fold().rollouts['ro-1']).toMatchObject({
      status: 'paused',
      pausedBy: 'gate',
      pauseReason: 'failure rate',
    });
    l.rollout('ro-1', 'resumed', { by: 'bob' });
    expect(l.fold().rollouts['ro-1']).toMatchObject({ status: 'running', resumedBy: 'bob' });
    l.rollout('ro-1', 'paused', { by: 'carol' });
    const paused = l.fold().rollouts['ro-1'];
    expect(paused).toMatchObject({ status: 'paused', pausedBy: 'carol' });
    expect(paused).not.toHaveProperty('pauseReason');
    l.rollout('ro-1', 'aborted', { by: 'carol', reason: 'aborted by command' });
    l.rollout('ro-1', 'aborted', { counts: { committed: 1, rolledBack: 0, failed: 1 } });
    expect(l.fold().rollouts['ro-1']).toMatchObject({
      status: 'aborted',
      abortedBy: 'carol',
      abortReason: 'aborted by command',
      reportedCounts: { committed: 1, rolledBack: 0, failed: 1 },
      endedAt: l.at(6),
    });
  });

  it('keeps each security alert and who changed the policy', () => {
    const l = log();
    started(l);
    l.rollout('ro-1', 'security.alert', { deviceId: 'd1', error: { code: 'HASH_MISMATCH', message: 'x' } });
    l.rollout('ro-1', 'policy.changed', { by: 'dave', policy: {} });
    expect(l.fold().rollouts['ro-1']).toMatchObject({
      securityAlerts: [{ deviceId: 'd1', code: 'HASH_MISMATCH' }],
      policyChangedBy: 'dave',
    });
  });

  it('adds a wave for devices that joined the target while it ran', () => {
    const l = log();
    started(l);
    l.rollout('ro-1', 'devices.joined', { devices: 4, wave: 2 });
    expect(l.fold().rollouts['ro-1']?.waves).toEqual([1, 2, 4]);
  });

  it('ends rolled back with the counts it reports after returning its devices', () => {
    const l = log();
    started(l);
    l.rollout('ro-1', 'aborted', { by: 'erin', reason: 'rollback by command' });
    l.rollout('ro-1', 'rolled_back', { counts: { committed: 0, rolledBack: 3, failed: 0 } });
    expect(l.fold().rollouts['ro-1']).toMatchObject({
      status: 'rolled_back',
      abortedBy: 'erin',
      reportedCounts: { committed: 0, rolledBack: 3, failed: 0 },
      endedAt: l.at(3),
    });
  });

  it('keeps the devices a rollout skipped, which only its end reports', () => {
    const l = log();
    started(l);
    l.rollout('ro-1', 'completed', { counts: { committed: 2, rolledBack: 0, failed: 0 }, skipped: 1 });
    expect(l.fold().rollouts['ro-1']).toMatchObject({ status: 'completed', skipped: 1 });
  });

  it('is rolled back once the rollback after its end finished, by whom and when', () => {
    const l = log();
    started(l);
    l.rollout('ro-1', 'completed', { counts: { committed: 2, rolledBack: 0, failed: 0 } });
    l.rollout('ro-1', 'rollback.started', { by: 'frank', devices: 2 });
    expect(l.fold().rollouts['ro-1']).toMatchObject({ status: 'completed', rolledBackBy: 'frank' });
    const counts = { rolled_back: 2, unchanged: 0, busy: 0, failed: 0 };
    l.rollout('ro-1', 'rollback.device', { by: 'frank', deviceId: 'd1', outcome: 'rolled_back' });
    l.rollout('ro-1', 'rollback.finished', { by: 'frank', counts });
    expect(l.fold().rollouts['ro-1']).toMatchObject({
      status: 'rolled_back',
      rolledBackBy: 'frank',
      rolledBackAt: l.at(5),
      rollbackCounts: counts,
      endedAt: l.at(2),
    });
  });

  it('ends completed with the counts it reports', () => {
    const l = log();
    started(l);
    l.rollout('ro-1', 'completed', { counts: { committed: 3, rolledBack: 0, failed: 0 } });
    expect(l.fold().rollouts['ro-1']).toMatchObject({
      status: 'completed',
      reportedCounts: { committed: 3, rolledBack: 0, failed: 0 },
      endedAt: l.at(2),
    });
  });

  describe('when its devices finish', () => {
    it('counts each device by the outcome of its update: committed, rolled back or failed', () => {
      const l = log();
      started(l);
      commits(l, 'd1', 'ro-1', 'rev-2');
      l.device('d2', 'started', { rolloutId: 'ro-1', revision: 'rev-2' });
      l.device('d2', 'rolled_back', {
        rolloutId: 'ro-1',
        revision: 'rev-2',
        error: { code: 'HEALTH_CHECK_FAILED', message: 'exit 1' },
      });
      l.device('d3', 'started', { rolloutId: 'ro-1', revision: 'rev-2' });
      expect(l.fold().rollouts['ro-1']?.counts).toEqual({ committed: 1, rolledBack: 1, failed: 0 });
      l.device('d3', 'failed', {
        rolloutId: 'ro-1',
        revision: 'rev-2',
        error: { code: 'NOT_ASSIGNED', message: 'no' },
      });
      const rollout = l.fold().rollouts['ro-1'];
      expect(rollout?.counts).toEqual({ committed: 1, rolledBack: 1, failed: 1 });
      expect(rollout?.lastSequence).toBe(l.events.length);
    });

    it('counts a device once however often the same outcome is recorded', () => {
      const l = log();
      started(l);
      commits(l, 'd1', 'ro-1', 'rev-2');
      l.device('d1', 'committed', { rolloutId: 'ro-1', revision: 'rev-2' });
      expect(l.fold().rollouts['ro-1']?.counts).toEqual({ committed: 1, rolledBack: 0, failed: 0 });
    });

    it('counts a retry (`<rollout>-r<n>`) for its rollout: in flight while it runs, then its outcome replaces the failure', () => {
      const l = log();
      started(l);
      l.device('d1', 'started', { rolloutId: 'ro-1', revision: 'rev-2' });
      l.device('d1', 'failed', {
        rolloutId: 'ro-1',
        revision: 'rev-2',
        error: { code: 'PHASE_TIMEOUT', message: 'slow' },
      });
      expect(l.fold().rollouts['ro-1']?.counts).toEqual({ committed: 0, rolledBack: 0, failed: 1 });
      l.device('d1', 'started', { rolloutId: 'ro-1-r2', revision: 'rev-2' });
      expect(l.fold().rollouts['ro-1']?.counts).toEqual({ committed: 0, rolledBack: 0, failed: 0 });
      commits(l, 'd1', 'ro-1-r2', 'rev-2');
      const projections = l.fold();
      expect(projections.rollouts['ro-1']?.counts).toEqual({ committed: 1, rolledBack: 0, failed: 0 });
      expect(projections.rollouts).not.toHaveProperty('ro-1-r2');
      expect(projections.devices['d1']).toMatchObject({
        rolloutId: 'ro-1',
        workflowId: 'device-update/d1/ro-1-r2',
      });
    });

    it('does not count a device found offline as failed: it is pending, and counts once it commits', () => {
      const l = log();
      started(l);
      l.device('d1', 'started', { rolloutId: 'ro-1', revision: 'rev-2' });
      l.device('d1', 'failed', {
        rolloutId: 'ro-1',
        revision: 'rev-2',
        error: { code: 'DEVICE_OFFLINE', message: 'no answer' },
      });
      expect(l.fold().rollouts['ro-1']?.counts).toEqual({ committed: 0, rolledBack: 0, failed: 0 });
      commits(l, 'd1', 'ro-1', 'rev-2');
      expect(l.fold().rollouts['ro-1']?.counts).toEqual({ committed: 1, rolledBack: 0, failed: 0 });
    });

    it('creates no rollout for updates outside any rollout it knows', () => {
      const l = log();
      commits(l, 'd1', 'manual-1', 'rev-2');
      const projections = l.fold();
      expect(projections.rollouts).toEqual({});
      expect(projections.devices['d1']?.rolloutId).toBe('manual-1');
    });
  });
});

describe('device status', () => {
  it('follows each phase of the latest update: rollout, revision, phase, deployment, time', () => {
    const l = log();
    started(l);
    const phases: string[] = [];
    for (const phase of ['started', 'commanded', 'downloaded', 'installed', 'committed']) {
      l.device('d1', phase, {
        rolloutId: 'ro-1',
        revision: 'rev-2',
        ...(phase === 'installed' ? { deployment: 'b' } : {}),
      });
      phases.push(l.fold().devices['d1']?.phase ?? 'none');
    }
    expect(phases).toEqual(['started', 'commanded', 'downloaded', 'installed', 'committed']);
    expect(l.fold().devices['d1']).toEqual({
      deviceId: 'd1',
      rolloutId: 'ro-1',
      workflowId: 'device-update/d1/ro-1',
      revision: 'rev-2',
      phase: 'committed',
      committedRevision: 'rev-2',
      deployment: 'b',
      updatedAt: l.at(6),
      lastSequence: 6,
    });
  });

  it('keeps the last committed revision through a rollback, with the error, until the next update starts', () => {
    const l = log();
    commits(l, 'd1', 'ro-0', 'rev-1');
    l.device('d1', 'started', { rolloutId: 'ro-1', revision: 'rev-2' });
    l.device('d1', 'rolled_back', {
      rolloutId: 'ro-1',
      revision: 'rev-2',
      deployment: 'a',
      error: { code: 'HEALTH_CHECK_FAILED', message: 'exit 1' },
    });
    expect(l.fold().devices['d1']).toMatchObject({
      rolloutId: 'ro-1',
      revision: 'rev-2',
      phase: 'rolled_back',
      committedRevision: 'rev-1',
      deployment: 'a',
      error: { code: 'HEALTH_CHECK_FAILED', message: 'exit 1' },
    });
    l.device('d1', 'started', { rolloutId: 'ro-2', revision: 'rev-3' });
    expect(l.fold().devices['d1']).not.toHaveProperty('error');
  });

  it("records the Director's verdict on the device's latest report without touching the update", () => {
    const l = log();
    commits(l, 'd1', 'ro-0', 'rev-1');
    l.report('d1', 'accepted', { counter: 7, ecus: ['ecu-1'] });
    expect(l.fold().devices['d1']).toMatchObject({
      phase: 'committed',
      lastReport: { accepted: true, at: l.at(6), counter: 7 },
    });
    l.report('d1', 'rejected', { error: { code: 'REPLAYED_REPORT', message: 'counter 7 again' } });
    expect(l.fold().devices['d1']?.lastReport).toEqual({
      accepted: false,
      at: l.at(7),
      error: { code: 'REPLAYED_REPORT', message: 'counter 7 again' },
    });
  });

  describe('when its signed report shows another revision than its last update', () => {
    it('follows the report after a rollback by command: back on the old revision, the update rolled back', () => {
      const l = log();
      commits(l, 'd1', 'ro-0', 'rev-1');
      commits(l, 'd1', 'ro-1', 'rev-2');
      l.report('d1', 'accepted', { counter: 3, ecus: ['ecu-1'], revision: 'rev-1' });
      const { devices, fleet } = l.fold();
      expect(devices['d1']).toMatchObject({
        rolloutId: 'ro-1',
        revision: 'rev-2',
        phase: 'rolled_back',
        committedRevision: 'rev-1',
      });
      expect(fleet.revisions).toEqual({ 'rev-1': 1 });
    });

    it('counts an install made on the device itself, outside any rollout', () => {
      const l = log();
      l.report('d1', 'accepted', { counter: 1, revision: 'local-9' });
      expect(l.fold().devices['d1']).toMatchObject({ committedRevision: 'local-9' });
      expect(l.fold().fleet).toEqual({ revisions: { 'local-9': 1 }, devices: 1, lastSequence: 1 });
    });

    it('changes nothing of the revision when the report names none, or the one it runs', () => {
      const l = log();
      commits(l, 'd1', 'ro-1', 'rev-1');
      l.report('d1', 'accepted', { counter: 1 });
      l.report('d1', 'accepted', { counter: 2, revision: 'rev-1' });
      expect(l.fold().devices['d1']).toMatchObject({ phase: 'committed', committedRevision: 'rev-1' });
      expect(l.fold().fleet.revisions).toEqual({ 'rev-1': 1 });
    });
  });

  it('lists a provisioned device before its first update, and keeps its hardware id through updates', () => {
    const l = log();
    l.other('device', 'd7', 'device.provisioned', { hardwareId: 'rpi4', by: 'alice' });
    expect(l.fold().devices['d7']).toEqual({
      deviceId: 'd7',
      hardwareId: 'rpi4',
      provisionedAt: l.at(1),
      updatedAt: l.at(1),
      lastSequence: 1,
    });
    commits(l, 'd7', 'ro-1', 'rev-1');
    expect(l.fold().devices['d7']).toMatchObject({
      hardwareId: 'rpi4',
      provisionedAt: l.at(1),
      phase: 'committed',
    });
  });

  it('marks a device revoked until it is provisioned again', () => {
    const l = log();
    l.other('device', 'd8', 'device.provisioned', { hardwareId: 'rpi4', by: 'alice' });
    l.other('device', 'd8', 'device.revoked', { keys: 1, by: 'alice' });
    expect(l.fold().devices['d8']).toMatchObject({ revokedAt: l.at(2), hardwareId: 'rpi4' });
    l.other('device', 'd8', 'device.provisioned', { hardwareId: 'rpi4', reprovisioned: true, by: 'alice' });
    expect(l.fold().devices['d8']).not.toHaveProperty('revokedAt');
  });

  it('knows a device that only reported', () => {
    const l = log();
    l.report('d9', 'accepted', { counter: 1 });
    expect(l.fold().devices['d9']).toEqual({
      deviceId: 'd9',
      lastReport: { accepted: true, at: l.at(1), counter: 1 },
      updatedAt: l.at(1),
      lastSequence: 1,
    });
  });
});

describe('fleet version distribution', () => {
  it('counts devices by the revision they last committed', () => {
    const l = log();
    commits(l, 'd1', 'ro-1', 'rev-1');
    commits(l, 'd2', 'ro-1', 'rev-1');
    commits(l, 'd3', 'ro-1', 'rev-2');
    expect(l.fold().fleet).toEqual({ revisions: { 'rev-1': 2, 'rev-2': 1 }, devices: 3, lastSequence: 15 });
  });

  it('moves a device to its new revision, forgetting revisions no device runs', () => {
    const l = log();
    commits(l, 'd1', 'ro-1', 'rev-1');
    commits(l, 'd2', 'ro-1', 'rev-1');
    commits(l, 'd1', 'ro-2', 'rev-2');
    commits(l, 'd2', 'ro-2', 'rev-2');
    expect(l.fold().fleet.revisions).toEqual({ 'rev-2': 2 });
    expect(l.fold().fleet.devices).toBe(2);
  });

  it('is not changed by a rollback, nor by committing the same revision again', () => {
    const l = log();
    commits(l, 'd1', 'ro-1', 'rev-1');
    const before = l.fold().fleet;
    l.device('d1', 'rolled_back', { rolloutId: 'ro-2', revision: 'rev-2' });
    commits(l, 'd1', 'ro-3', 'rev-1');
    expect(l.fold().fleet).toEqual(before);
  });
});

describe('applying events once', () => {
  function sampleLog() {
    const l = log();
    started(l);
    commits(l, 'd1', 'ro-1', 'rev-2');
    l.device('d2', 'started', { rolloutId: 'ro-1', revision: 'rev-2' });
    l.device('d2', 'failed', { rolloutId: 'ro-1', revision: 'rev-2', error: { code: 'X', message: 'y' } });
    l.rollout('ro-1', 'completed', { counts: { committed: 1, rolledBack: 0, failed: 1 } });
    return l;
  }

  it('folds a log applied twice to the same projections as once', () => {
    const l = sampleLog();
    const once = l.fold();
    expect(foldEvents(l.fold(), l.events)).toEqual(once);
  });

  it('ignores a duplicate or out-of-order event (a sequence at or below the value’s last)', () => {
    const l = sampleLog();
    const projections = l.fold();
    for (const stored of l.events) expect(project(projections, stored)).toEqual({});
    const late = { ...l.events[1]!, event: { ...l.events[1]!.event, type: 'device.update.failed' } };
    expect(project(projections, late)).toEqual({});
  });

  it('ignores unknown event types, unknown aggregates and data of the wrong shape', () => {
    const l = sampleLog();
    const before = l.fold();
    l.other('rollout', 'ro-1', 'rollout.teleported', { by: 'mallory' });
    l.other('device', 'd1', 'device.update.exploded', { rolloutId: 'ro-1', revision: 'rev-2' });
    l.other('device', 'd1', 'device.rebooted', {});
    l.other('api', 'tokens', 'api.token.issued', { by: 'root' });
    l.rollout('ro-1', 'paused', { by: 42 });
    l.rollout('ro-1', 'wave.finished', { wave: 'one' });
    l.device('d1', 'committed', { rolloutId: 'not a token!', revision: 'rev-9' });
    l.device('d1', 'committed', { rolloutId: 'ro-1' });
    l.report('d1', 'rejected', { error: 'bad' });
    expect(l.fold()).toEqual<Projections>(before);
  });

  it('names the values an event touches, so an adapter reads only those', () => {
    const l = log();
    expect(touchedKeys(l.rollout('ro-1', 'paused', { by: 'x' }).event)).toEqual({
      rollouts: ['ro-1'],
      fleet: false,
    });
    expect(touchedKeys(l.device('d1', 'committed', { rolloutId: 'ro-1-r3', revision: 'r' }).event)).toEqual({
      rollouts: ['ro-1-r3', 'ro-1'],
      device: 'd1',
      fleet: true,
    });
    expect(touchedKeys(l.report('d1', 'accepted', { counter: 1 }).event)).toEqual({
      rollouts: [],
      device: 'd1',
      fleet: false,
    });
    expect(touchedKeys(l.report('d1', 'accepted', { counter: 2, revision: 'r' }).event)).toEqual({
      rollouts: [],
      device: 'd1',
      fleet: true,
    });
    expect(touchedKeys(l.other('device', 'd2', 'device.provisioned', { hardwareId: 'hw' }).event)).toEqual({
      rollouts: [],
      device: 'd2',
      fleet: false,
    });
    expect(touchedKeys(l.other('repository', 'image', 'repository.metadata.refreshed').event)).toEqual({
      rollouts: [],
      fleet: false,
    });
  });
});

describe('device tags', () => {
  it('follow the latest device.tagged event, through the updates after it', () => {
    const l = log();
    l.other('device', 'dev-1', 'device.tagged', {
      by: 'olga',
      added: ['lab', 'site.berlin'],
      tags: ['lab', 'site.berlin'],
    });
    l.other('device', 'dev-1', 'device.tagged', { by: 'olga', removed: ['lab'], tags: ['site.berlin'] });
    started(l);
    commits(l, 'dev-1', 'ro-1', 'rev-2');
    expect(l.fold().devices['dev-1']).toMatchObject({ tags: ['site.berlin'], phase: 'committed' });
  });

  it('ignore a tagged event whose tags are not valid tags', () => {
    const l = log();
    l.other('device', 'dev-1', 'device.tagged', { tags: ['Not A Tag'] });
    expect(l.fold().devices['dev-1']).toBeUndefined();
  });
});
