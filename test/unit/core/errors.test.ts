import { describe, expect, it } from 'vitest';
import {
  classifyFailure,
  codeInfo,
  ERROR_CODES,
  isPermanent,
  isUprollErrorCode,
  refusalOf,
  TRUST_ATTACK_CODES,
  type UprollErrorCode,
} from '../../../core/index.ts';

const codes = Object.keys(ERROR_CODES) as UprollErrorCode[];

describe('the table of error codes', () => {
  it('makes every failed trust check an attack that the rollout treats as verification, never retried, but a slow link', () => {
    for (const code of TRUST_ATTACK_CODES) {
      if (code === 'SLOW_RETRIEVAL') continue;
      expect([code, classifyFailure(code), isPermanent(code)]).toEqual([code, 'verification', true]);
    }
    expect([classifyFailure('SLOW_RETRIEVAL'), isPermanent('SLOW_RETRIEVAL')]).toEqual(['transient', false]);
  });

  it('derives the attack set from the table: a code marked attack is in it, and no other', () => {
    expect([...TRUST_ATTACK_CODES].sort()).toEqual(codes.filter((code) => ERROR_CODES[code].attack).sort());
    expect(TRUST_ATTACK_CODES).toContain('ROLLBACK_ATTACK');
    expect(TRUST_ATTACK_CODES).not.toContain('DOWNLOAD_FAILED');
  });

  it('retries network failures and a busy or unreachable device; health failures count as unhealthy', () => {
    for (const code of ['DOWNLOAD_FAILED', 'DEVICE_UNREACHABLE', 'DEVICE_BUSY', 'PHASE_TIMEOUT'] as const)
      expect([code, classifyFailure(code), isPermanent(code)]).toEqual([code, 'transient', false]);
    for (const code of [
      'HEALTH_CHECK_FAILED',
      'BOOT_FAILED',
      'BOOT_ATTEMPTS_EXCEEDED',
      'UNHEALTHY_AFTER_COMMIT',
    ])
      expect([code, classifyFailure(code)]).toEqual([code, 'unhealthy']);
    expect(classifyFailure('DEVICE_OFFLINE')).toBe('offline');
  });

  it('holds the codes devices answer with on the wire', () => {
    expect(isUprollErrorCode('BUSY')).toBe(true);
    expect(isUprollErrorCode('ROLLED_BACK_BY_COMMAND')).toBe(true);
  });

  it('answers a code this release does not know (a newer agent, an old history) as other, worth retrying, 422', () => {
    expect(isUprollErrorCode('SOMETHING_NEWER')).toBe(false);
    expect(isUprollErrorCode('toString')).toBe(false); // not a key of every object
    expect(codeInfo('SOMETHING_NEWER')).toEqual({
      class: 'other',
      permanent: false,
      attack: false,
      httpStatus: 422,
    });
  });

  it('gives every code an HTTP status the API may answer with: 4xx or 5xx', () => {
    const outside = codes.filter(
      (code) => !(ERROR_CODES[code].httpStatus >= 400 && ERROR_CODES[code].httpStatus < 600),
    );
    expect(outside).toEqual([]);
    expect(ERROR_CODES.UNAUTHORIZED.httpStatus).toBe(401);
    expect(ERROR_CODES.FORBIDDEN.httpStatus).toBe(403);
    expect(ERROR_CODES.ROLLOUT_NOT_FOUND.httpStatus).toBe(404);
    expect(ERROR_CODES.ALREADY_ROLLED_BACK.httpStatus).toBe(409);
  });
});

describe("a device's refusal", () => {
  const refusal = (code: string) => refusalOf('d1', 'the update', { code, message: 'because' });

  it('keeps a permanent code of its own: a trust check that failed on the device counts as one', () => {
    expect(refusal('ROLLBACK_ATTACK')).toMatchObject({
      code: 'ROLLBACK_ATTACK',
      message: 'device d1 refused the update: because',
    });
    expect(classifyFailure(refusal('ROLLBACK_ATTACK').code)).toBe('verification');
    expect(refusal('REVISION_UNSUPPORTED').code).toBe('REVISION_UNSUPPORTED');
  });

  it('makes a busy device DEVICE_BUSY, asked again', () => {
    expect(refusal('BUSY')).toMatchObject({ code: 'DEVICE_BUSY', message: 'device d1 is busy: because' });
  });

  it('makes a code it does not know, or a transient one, a final COMMAND_REJECTED that names it', () => {
    expect(refusal('NEWER_CODE')).toMatchObject({
      code: 'COMMAND_REJECTED',
      message: 'device d1 refused the update: NEWER_CODE: because',
    });
    expect(refusal('INSTALL_FAILED').code).toBe('COMMAND_REJECTED');
  });
});
