import { describe, expect, it } from 'vitest';
import { runHealthCheck } from '../../../agent/index.ts';

describe('health check', () => {
  it('passes when the command exits 0, with the slot in its environment', async () => {
    await expect(
      runHealthCheck(
        { command: ['sh', '-c', 'test "$UPROLL_SLOT" = b'], timeoutMs: 5000 },
        { UPROLL_SLOT: 'b' },
      ),
    ).resolves.toBeUndefined();
  });

  it('fails with the end of stderr when the command exits non-zero', async () => {
    const check = runHealthCheck(
      { command: ['sh', '-c', 'echo "no such service" >&2; exit 4'], timeoutMs: 5000 },
      {},
    );
    await expect(check).rejects.toThrowWithCode('HEALTH_CHECK_FAILED');
    await expect(check).rejects.toThrow('exited with status 4: no such service');
  });

  it('fails when the command does not finish in time', async () => {
    const started = Date.now();
    await expect(runHealthCheck({ command: ['sleep', '10'], timeoutMs: 200 }, {})).rejects.toThrow(
      'did not finish within 200 ms',
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('fails when the command cannot be started', async () => {
    await expect(
      runHealthCheck({ command: ['/nonexistent/check'], timeoutMs: 1000 }, {}),
    ).rejects.toThrowWithCode('HEALTH_CHECK_FAILED');
  });
});
