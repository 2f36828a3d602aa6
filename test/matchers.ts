import { expect } from 'vitest';
import { isUprollError, type UprollErrorCode } from '../core/index.ts';

declare module 'vitest' {
  // Type parameters must match vitest's own declaration of Matchers.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  interface Matchers<R extends void | Promise<void> = void | Promise<void>, T = unknown> {
    /** Throws (or, after `.rejects`, rejects with) an UprollError with this code. */
    toThrowWithCode(code: UprollErrorCode): R;
  }
}

function verdict(thrown: unknown, code: UprollErrorCode) {
  const pass = isUprollError(thrown, code);
  const actual = isUprollError(thrown)
    ? `${thrown.code}: ${thrown.message}`
    : thrown instanceof Error
      ? `${thrown.name}: ${thrown.message}`
      : 'nothing';
  return {
    pass,
    message: () => `expected to throw UprollError ${code}${pass ? ' not' : ''}, but got ${actual}`,
  };
}

expect.extend({
  /**
   * `expect(fn).toThrowWithCode(code)` for a function that throws;
   * `await expect(promise).rejects.toThrowWithCode(code)` for a promise.
   */
  toThrowWithCode(received: unknown, code: UprollErrorCode) {
    if (typeof received !== 'function') return verdict(received, code);
    try {
      (received as () => unknown)();
    } catch (err) {
      return verdict(err, code);
    }
    return verdict(undefined, code);
  },
});
