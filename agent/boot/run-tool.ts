import { spawn } from 'node:child_process';
import { UprollError } from '../../core/index.ts';

/** Byte cap on what a boot tool prints: an environment is a few KiB. */
const MAX_OUTPUT_BYTES = 256 * 1024;
const STDERR_TAIL_BYTES = 512;

/** A boot tool that ran and failed: its exit status tells some failures apart (fw_printenv 243: both copies bad). */
export class BootToolError extends UprollError {
  readonly exitStatus: number | undefined;

  constructor(message: string, exitStatus: number | undefined) {
    super('BOOT_CONTROL_FAILED', message);
    this.exitStatus = exitStatus;
  }
}

/**
 * Runs a boot environment tool (fw_printenv, fw_setenv, grub-editenv) with
 * no input, and returns what it printed. A failure to start, a
 * non-zero exit or too much output is BOOT_CONTROL_FAILED with the tool's
 * last words.
 */
export function runBootTool(
  program: string,
  args: readonly string[],
  { what, timeoutMs = 30_000 }: { what: string; timeoutMs?: number },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
    const out: Buffer[] = [];
    let outBytes = 0;
    let stderr = '';
    const fail = (why: string, exitStatus?: number) =>
      reject(
        new BootToolError(`${what}: ${program} ${why}${stderr ? `: ${stderr.trim()}` : ''}`, exitStatus),
      );
    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.byteLength;
      if (outBytes > MAX_OUTPUT_BYTES) child.kill('SIGKILL');
      else out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    child.once('error', (err) => fail(`could not run: ${err.message}`));
    child.once('close', (code, signal) => {
      if (outBytes > MAX_OUTPUT_BYTES) fail(`printed more than ${MAX_OUTPUT_BYTES} bytes`);
      else if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else if (signal) fail(`was killed by ${signal}`);
      else fail(`exited with status ${code}`, code ?? undefined);
    });
    // Nothing on stdin: Node hands a child a socket there, which libubootenv cannot read as a file.
    child.stdin.on('error', () => {});
    child.stdin.end();
  });
}

/** Parses `key=value` lines (fw_printenv, grub-editenv list); other lines (comments) are ignored. */
export function parseEnvLines(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of text.split('\n')) {
    const at = line.indexOf('=');
    if (at <= 0 || line.startsWith('#')) continue;
    vars.set(line.slice(0, at), line.slice(at + 1));
  }
  return vars;
}
