import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { UprollError, type HealthCheck } from '../core/index.ts';

export type { HealthCheck } from '../core/index.ts';

const STDERR_TAIL_BYTES = 512;

/**
 * Decides whether a newly switched revision is healthy: its command exits 0
 * and / or its HTTP probe answers 2xx, within the timeout, in at most
 * `attempts` tries. Fails with HEALTH_CHECK_FAILED quoting the last problem.
 */
export async function runHealthCheck(
  check: HealthCheck,
  context: { cwd: string; env: Record<string, string> },
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      if (check.command) await runCommand(check.command, check.timeoutMs, context);
      if (check.http) await probe(check.http, check.timeoutMs);
      return;
    } catch (err) {
      if (attempt >= check.attempts) {
        const tries = check.attempts > 1 ? ` (${check.attempts} attempts)` : '';
        throw new UprollError('HEALTH_CHECK_FAILED', `${(err as Error).message}${tries}`, { cause: err });
      }
      await sleep(check.intervalMs);
    }
  }
}

async function probe(url: string, timeoutMs: number): Promise<void> {
  const response = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(timeoutMs) }).catch(
    (err: unknown) => {
      throw new Error(`health probe ${url} failed: ${(err as Error).message}`);
    },
  );
  await response.body?.cancel();
  if (response.status < 200 || response.status > 299)
    throw new Error(`health probe ${url} answered HTTP ${response.status}`);
}

function runCommand(
  command: readonly [string, ...string[]],
  timeoutMs: number,
  context: { cwd: string; env: Record<string, string> },
): Promise<void> {
  const [program, ...args] = command;
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      cwd: context.cwd,
      env: { ...process.env, ...context.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    const failed = (why: string) =>
      reject(new Error(`health check ${why}${stderr ? `: ${stderr.trim()}` : ''}`));
    child.once('error', (err) => {
      clearTimeout(timer);
      failed(`could not start ${program}: ${err.message}`);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) failed(`did not finish within ${timeoutMs} ms`);
      else if (code === 0) resolve();
      else failed(signal ? `was killed by ${signal}` : `exited with status ${code}`);
    });
  });
}
