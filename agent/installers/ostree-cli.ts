import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { UprollError, type UprollErrorCode } from '../../core/index.ts';

const exec = promisify(execFile);

/** What a failed `ostree` run said on stderr (or its error message without one). */
export function ostreeFailure(err: unknown): string {
  const stderr = (err as { stderr?: string }).stderr?.trim();
  return stderr || (err instanceof Error ? err.message : String(err));
}

/**
 * Runs the `ostree` program and returns its stdout; a failure becomes an
 * UprollError of `code` that quotes ostree's own message.
 */
export async function runOstree(
  program: string,
  args: readonly string[],
  options: { code?: UprollErrorCode; timeoutMs?: number } = {},
): Promise<string> {
  try {
    const { stdout } = await exec(program, args, {
      maxBuffer: 16 * 1024 * 1024,
      ...(options.timeoutMs ? { timeout: options.timeoutMs, killSignal: 'SIGKILL' as const } : {}),
    });
    return stdout;
  } catch (err) {
    throw new UprollError(
      options.code ?? 'INSTALL_FAILED',
      `ostree ${commandOf(args)} failed: ${ostreeFailure(err)}`,
      { cause: err },
    );
  }
}

/** `pull`, or `admin deploy`: the words naming what ran, for messages. */
function commandOf(args: readonly string[]): string {
  const words = args.filter((a) => !a.startsWith('-'));
  return words.slice(0, words[0] === 'admin' ? 2 : 1).join(' ');
}
