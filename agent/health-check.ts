import { spawn } from 'node:child_process';
import { UprollError } from '../core/index.ts';

/** A command that decides whether a newly switched revision is healthy (exit 0). */
export interface HealthCheck {
  command: readonly [string, ...string[]];
  timeoutMs: number;
}

const STDERR_TAIL_BYTES = 512;

/**
 * Runs the health check with the slot's paths in its environment. Resolves
 * when it exits 0; fails with HEALTH_CHECK_FAILED, quoting the end of its
 * stderr, on another exit, a signal or the timeout.
 */
export function runHealthCheck(check: HealthCheck, env: Record<string, string>): Promise<void> {
  const [program, ...args] = check.command;
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, check.timeoutMs);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    const failed = (why: string, cause?: unknown) =>
      reject(
        new UprollError('HEALTH_CHECK_FAILED', `health check ${why}${stderr ? `: ${stderr.trim()}` : ''}`, {
          cause,
        }),
      );
    child.once('error', (err) => {
      clearTimeout(timer);
      failed(`could not start ${program}`, err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) failed(`did not finish within ${check.timeoutMs} ms`);
      else if (code === 0) resolve();
      else failed(signal ? `was killed by ${signal}` : `exited with status ${code}`);
    });
  });
}
