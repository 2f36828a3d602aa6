import { describe, expect, it } from 'vitest';
import { eventually } from '../../helpers/eventually.ts';

describe('eventually', () => {
  it('returns the first answer that is not false, undefined or null', async () => {
    let asked = 0;
    const answer = await eventually('the third ask', () => (++asked >= 3 ? { asked } : undefined), {
      intervalMs: 1,
    });
    expect(answer).toEqual({ asked: 3 });
  });

  it('asks again after a check that throws', async () => {
    let asked = 0;
    const answer = await eventually(
      'a check that recovers',
      () => {
        if (++asked < 2) throw new Error('not yet');
        return 'done';
      },
      { intervalMs: 1 },
    );
    expect(answer).toBe('done');
  });

  it('fails, naming what it waited for and what it last saw, when the time runs out', async () => {
    await expect(
      eventually('a condition that never holds', () => false, { timeoutMs: 50, intervalMs: 5 }),
    ).rejects.toThrow(
      /timed out after 50 ms waiting for a condition that never holds; the last answer was false/,
    );
    await expect(
      eventually(
        'a check that always throws',
        () => {
          throw new Error('still broken');
        },
        { timeoutMs: 50, intervalMs: 5 },
      ),
    ).rejects.toThrow(/the last check threw still broken/);
  });

  it('fails in time when a check never answers', async () => {
    await expect(
      eventually('a check that hangs', () => new Promise<boolean>(() => {}), { timeoutMs: 50 }),
    ).rejects.toThrow(
      /timed out after 50 ms waiting for a check that hangs; the last check threw the check did not answer in time/,
    );
  });
});
