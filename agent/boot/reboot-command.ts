import { spawn } from 'node:child_process';
import { UprollError } from '../../core/index.ts';

/**
 * Reboots by running `command` (e.g. `systemctl reboot`): resolves once it
 * exits 0 (the system then stops the agent). A command that cannot start
 * or fails is BOOT_CONTROL_FAILED; the trial stays armed, so the next boot
 * (whenever it comes) still tries the new slot.
 */
export function rebootCommand(
  command: readonly [string, ...string[]],
  timeoutMs = 60_000,
): () => Promise<void> {
  const [program, ...args] = command;
  return () =>
    new Promise((resolve, reject) => {
      const child = spawn(program, args, { stdio: 'ignore', timeout: timeoutMs });
      child.once('error', (err) =>
        reject(
          new UprollError('BOOT_CONTROL_FAILED', `cannot run the reboot command ${program}: ${err.message}`),
        ),
      );
      child.once('close', (code, signal) => {
        if (code === 0) resolve();
        else
          reject(
            new UprollError(
              'BOOT_CONTROL_FAILED',
              `the reboot command ${program} ${signal ? `was killed by ${signal}` : `exited with status ${code}`}`,
            ),
          );
      });
    });
}
