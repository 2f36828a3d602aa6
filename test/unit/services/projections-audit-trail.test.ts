import { describe, expect, it } from 'vitest';
import type { DomainEvent } from '../../../core/index.ts';
import { auditLine, formatAuditLine } from '../../../services/projections/index.ts';

const at = '2026-11-01T12:00:00.000Z';
function line(aggregate: DomainEvent['aggregate'], aggregateId: string, type: string, data: unknown) {
  return auditLine({ sequence: 9, event: { aggregate, aggregateId, type, at, data } });
}

describe('audit trail lines', () => {
  it('say when, which aggregate, what happened and who or what did it', () => {
    const started = line('rollout', 'ro-1', 'rollout.started', {
      by: 'alice',
      revision: 'rev-2',
      waves: [2, 3, 15],
    });
    expect(started).toEqual({
      sequence: 9,
      at,
      subject: 'rollout/ro-1',
      type: 'rollout.started',
      summary: 'by alice: revision rev-2, waves 2+3+15',
    });
    expect(formatAuditLine(started)).toMatch(
      /^2026-11-01T12:00:00.000Z {2}rollout\/ro-1 +rollout\.started +by alice: revision rev-2, waves 2\+3\+15$/,
    );
  });

  it.each([
    [
      'repository',
      'repository.key.rotated',
      { by: 'sec-team', summary: 'timestamp key 3a04fe50 replaced by 9b1c2d3e' },
      'by sec-team: timestamp key 3a04fe50 replaced by 9b1c2d3e',
    ],
    ['rollout', 'rollout.paused', { by: 'gate', reason: 'failure rate 0.5' }, 'by gate: failure rate 0.5'],
    [
      'rollout',
      'rollout.completed',
      { counts: { committed: 3, rolledBack: 1, failed: 0 } },
      '3 committed, 1 rolled back, 0 failed',
    ],
    [
      'rollout',
      'rollout.completed',
      { counts: { committed: 2, rolledBack: 0, failed: 0 }, skipped: 1 },
      '2 committed, 0 rolled back, 0 failed, 1 skipped',
    ],
    [
      'rollout',
      'rollout.security.alert',
      { deviceId: 'd1', error: { code: 'HASH_MISMATCH', message: 'bad bytes' } },
      'device d1: HASH_MISMATCH: bad bytes',
    ],
    [
      'device',
      'device.update.rolled_back',
      {
        rolloutId: 'ro-1',
        revision: 'rev-2',
        deployment: 'a',
        error: { code: 'HEALTH_CHECK_FAILED', message: 'exit 1' },
      },
      'rollout ro-1, revision rev-2, deployment a: HEALTH_CHECK_FAILED: exit 1',
    ],
    [
      'rollout',
      'rollout.rollback.started',
      { by: 'rm-alice', devices: 4 },
      'by rm-alice: 4 devices to return to their previous revision',
    ],
    [
      'rollout',
      'rollout.rollback.device',
      {
        by: 'rm-alice',
        deviceId: 'd1',
        outcome: 'rolled_back',
        from: 'rev-2',
        previous: 'rev-1',
        runs: 'rev-1',
      },
      'device d1 rolled_back, from rev-2, runs rev-1',
    ],
    [
      'rollout',
      'rollout.rollback.device',
      {
        deviceId: 'd2',
        outcome: 'failed',
        from: 'rev-2',
        reason: { code: 'DEVICE_UNREACHABLE', message: 'no answer' },
      },
      'device d2 failed, from rev-2: DEVICE_UNREACHABLE: no answer',
    ],
    [
      'rollout',
      'rollout.rollback.finished',
      { by: 'rm-alice', counts: { rolled_back: 3, unchanged: 1, busy: 0, failed: 0 } },
      'by rm-alice: 3 rolled back, 1 unchanged, 0 busy, 0 failed',
    ],
    ['device', 'device.report.accepted', { counter: 4 }, 'counter 4'],
    [
      'device',
      'device.report.rejected',
      { error: { code: 'INVALID_INPUT', message: 'not a manifest' }, count: 299, since: at },
      `INVALID_INPUT: not a manifest, 299 times since ${at}`,
    ],
    [
      'api',
      'api.call.refused',
      { method: 'POST', path: '/api/releases', code: 'UNAUTHORIZED', remote: '127.0.0.1', count: 1 },
      'POST /api/releases: UNAUTHORIZED (127.0.0.1)',
    ],
    ['api', 'api.token.issued', { role: 'viewer' }, '{"role":"viewer"}'],
  ] as const)('describe %s event %s', (aggregate, type, data, summary) => {
    expect(line(aggregate, 'x', type, data).summary).toBe(summary);
  });

  it('keep text that came from a device on one line, without terminal escapes', () => {
    const summary = line('device', 'd1', 'device.update.failed', {
      rolloutId: 'ro-1',
      revision: 'rev-2',
      error: { code: 'INSTALL_FAILED', message: 'disk\n\u001b[31mfull\u0007' },
    }).summary;
    expect(summary).toBe('rollout ro-1, revision rev-2: INSTALL_FAILED: disk [31mfull ');
  });

  it('are cut to a readable length', () => {
    expect(line('api', 'x', 'api.note', { text: 'y'.repeat(1000) }).summary).toHaveLength(160);
  });
});
