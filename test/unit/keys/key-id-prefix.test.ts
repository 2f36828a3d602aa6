import { describe, expect, it } from 'vitest';
import { resolveKeyId } from '../../../keys/index.ts';

const ids = ['aa11bb22' + '0'.repeat(56), 'aa11bb22' + 'f'.repeat(56), 'cc33dd44' + '1'.repeat(56)];

describe('naming a key by a prefix of its id', () => {
  it('finds the one key a prefix of 8 or more hex digits names, in any case', () => {
    expect(resolveKeyId('CC33DD44', ids, 'the store')).toBe(ids[2]);
    expect(resolveKeyId('aa11bb22f', ids, 'the store')).toBe(ids[1]);
    expect(resolveKeyId(ids[0]!, ids, 'the store')).toBe(ids[0]);
  });

  it('refuses a prefix several keys start with: AMBIGUOUS_KEY, naming them', () => {
    expect(() => resolveKeyId('aa11bb22', ids, 'the store')).toThrowWithCode('AMBIGUOUS_KEY');
    expect(() => resolveKeyId('aa11bb22', ids, 'the store')).toThrow(/names 2 keys in the store/);
  });

  it('refuses a prefix no key starts with: UNKNOWN_KEY', () => {
    expect(() => resolveKeyId('deadbeef', ids, 'the store')).toThrowWithCode('UNKNOWN_KEY');
  });

  it.each(['aa11bb2', 'not-hex-at-all', ''])(
    'refuses %j, which is no key id prefix: INVALID_INPUT',
    (name) => {
      expect(() => resolveKeyId(name, ids, 'the store')).toThrowWithCode('INVALID_INPUT');
    },
  );
});
