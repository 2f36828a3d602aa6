import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runHealthCheck } from '../../../agent/index.ts';
import { healthCheckSchema, type HealthCheckInput } from '../../../core/index.ts';

const check = (input: HealthCheckInput) => healthCheckSchema.parse({ intervalMs: 10, ...input });
const context = { cwd: tmpdir(), env: {} };

describe('health check', () => {
  it('passes when the command exits 0, run in the deployment with its revision in the environment', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'uproll-health-'));
    await writeFile(join(cwd, 'app.conf'), 'ok');
    await expect(
      runHealthCheck(check({ command: ['sh', '-c', 'test -s app.conf && test "$UPROLL_REVISION" = 2.0'] }), {
        cwd,
        env: { UPROLL_REVISION: '2.0' },
      }),
    ).resolves.toBeUndefined();
  });

  it('fails with the end of stderr when the command exits non-zero', async () => {
    const result = runHealthCheck(
      check({ command: ['sh', '-c', 'echo "no such service" >&2; exit 4'] }),
      context,
    );
    await expect(result).rejects.toThrowWithCode('HEALTH_CHECK_FAILED');
    await expect(result).rejects.toThrow('exited with status 4: no such service');
  });

  it('fails when the command does not finish in time', async () => {
    const started = Date.now();
    await expect(
      runHealthCheck(check({ command: ['sleep', '10'], timeoutMs: 200 }), context),
    ).rejects.toThrow('did not finish within 200 ms');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('fails when the command cannot be started', async () => {
    await expect(runHealthCheck(check({ command: ['/nonexistent/check'] }), context)).rejects.toThrowWithCode(
      'HEALTH_CHECK_FAILED',
    );
  });

  it('tries again up to its attempts: a service that comes up on the third probe is healthy', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uproll-health-'));
    const counter = join(dir, 'tries');
    const script = `n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; test $n -ge 3`;
    await expect(
      runHealthCheck(check({ command: ['sh', '-c', script], attempts: 3 }), context),
    ).resolves.toBeUndefined();
    await expect(runHealthCheck(check({ command: ['false'], attempts: 2 }), context)).rejects.toThrow(
      '(2 attempts)',
    );
  });

  it('probes a local HTTP endpoint: 2xx is healthy, anything else is not', async () => {
    let status = 200;
    const server = createServer((_request, response) => response.writeHead(status).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/healthz`;
    try {
      await expect(runHealthCheck(check({ http: url }), context)).resolves.toBeUndefined();
      status = 503;
      await expect(runHealthCheck(check({ http: url }), context)).rejects.toThrow('answered HTTP 503');
    } finally {
      server.close();
    }
  });

  it('is refused when it names neither a command nor a probe, or a probe off the device', () => {
    expect(healthCheckSchema.safeParse({ timeoutMs: 10 }).success).toBe(false);
    expect(healthCheckSchema.safeParse({ http: 'http://example.com/healthz' }).success).toBe(false);
  });
});
