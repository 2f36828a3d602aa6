import { describe, expect, it } from 'vitest';
import { committedByRollout, type DomainEvent } from '../../../../core/index.ts';

/** A device update event of `phase`, for the update commanded as `rolloutId`. */
function update(deviceId: string, phase: string, data: Record<string, unknown>): DomainEvent {
  return {
    aggregate: 'device',
    aggregateId: deviceId,
    type: `device.update.${phase}`,
    at: '2026-11-01T12:00:00.000Z',
    data: { workflowId: `device-update/${deviceId}/${String(data['rolloutId'])}`, ...data },
  };
}
const commit = (deviceId: string, rolloutId: string, revision: string, rollout?: string) =>
  update(deviceId, 'committed', { rolloutId, revision, ...(rollout ? { rollout } : {}) });

describe('the devices a rollout left on its revision', () => {
  it('are those it committed, each with the revision it had committed before', () => {
    const devices = committedByRollout('ro-2', [
      commit('d1', 'ro-1', 'rev-1'),
      commit('d2', 'ro-1', 'rev-1'),
      commit('d2', 'ro-2', 'rev-2', 'ro-2'),
      commit('d1', 'ro-2', 'rev-2', 'ro-2'),
      commit('d3', 'ro-2', 'rev-2', 'ro-2'),
    ]);
    expect(devices).toEqual([
      { deviceId: 'd1', commandId: 'ro-2', revision: 'rev-2', previous: 'rev-1' },
      { deviceId: 'd2', commandId: 'ro-2', revision: 'rev-2', previous: 'rev-1' },
      { deviceId: 'd3', commandId: 'ro-2', revision: 'rev-2' },
    ]);
  });

  it('name a retry by the id it was commanded with', () => {
    const devices = committedByRollout('ro-2', [
      update('d1', 'failed', { rolloutId: 'ro-2', rollout: 'ro-2', revision: 'rev-2' }),
      commit('d1', 'ro-2-r2', 'rev-2', 'ro-2'),
    ]);
    expect(devices).toEqual([{ deviceId: 'd1', commandId: 'ro-2-r2', revision: 'rev-2' }]);
  });

  it('leave out a device the rollout rolled back while it ran, and count where it went back to', () => {
    const backByCommand = update('d1', 'rolled_back', {
      rolloutId: 'ro-1',
      rollout: 'ro-1',
      revision: 'rev-0',
      error: { code: 'ROLLED_BACK_BY_COMMAND', message: 'back to rev-0' },
    });
    expect(
      committedByRollout('ro-1', [
        commit('d1', 'ro-0', 'rev-0'),
        commit('d1', 'ro-1', 'rev-1'),
        backByCommand,
      ]),
    ).toEqual([]);
    expect(
      committedByRollout('ro-2', [
        commit('d1', 'ro-0', 'rev-0'),
        commit('d1', 'ro-1', 'rev-1'),
        backByCommand,
        commit('d1', 'ro-2', 'rev-2', 'ro-2'),
      ]),
    ).toEqual([{ deviceId: 'd1', commandId: 'ro-2', revision: 'rev-2', previous: 'rev-0' }]);
  });

  it('ignore events of other aggregates and data of another shape', () => {
    const odd: DomainEvent = {
      aggregate: 'device',
      aggregateId: 'd1',
      type: 'device.update.committed',
      at: '',
      data: 7,
    };
    const report: DomainEvent = { ...commit('d2', 'ro-1', 'rev-1'), type: 'device.report.accepted' };
    expect(committedByRollout('ro-1', [odd, report])).toEqual([]);
  });
});
