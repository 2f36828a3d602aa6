import fc from 'fast-check';
import { canonicalize as reference } from '@tufjs/canonical-json';
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../core/tuf/index.ts';

/** JSON values canonical JSON can encode: integers only, any strings (control characters too). */
const canonicalValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ unit: 'binary' }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: 'binary' }), tie('value'), { maxKeys: 5 }),
  ),
})).value;

describe('canonical JSON', () => {
  it('is byte for byte what @tufjs/canonical-json produces', () => {
    fc.assert(
      fc.property(canonicalValue, (value) => {
        expect(canonicalize(value)).toBe(reference(value));
      }),
      { numRuns: 1000 },
    );
  });

  it.each([1.5, Number.NaN, undefined, { '1': undefined }, ['\u0001', 0.5]])(
    'refuses %j like the reference does',
    (value) => {
      expect(() => canonicalize(value)).toThrow(TypeError);
      expect(() => reference(value)).toThrow(TypeError);
    },
  );
});
