import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rebootCommand } from '../../../../agent/index.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uproll-reboot-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('the reboot command', () => {
  it('runs the configured program and resolves once it exits 0', async () => {
    const calls = join(dir, 'calls');
    await rebootCommand(['sh', '-c', `echo reboot >> ${calls}`])();
    expect(await readFile(calls, 'utf8')).toBe('reboot\n');
  });

  it.each<[string, [string, ...string[]], RegExp]>([
    ['exits non-zero', ['sh', '-c', 'exit 3'], /exited with status 3/],
    ['cannot be started', ['/nonexistent/uproll-no-such-reboot'], /cannot run the reboot command/],
  ])('fails with BOOT_CONTROL_FAILED when it %s', async (_what, command, message) => {
    const reboot = rebootCommand(command);
    await expect(reboot()).rejects.toThrowWithCode('BOOT_CONTROL_FAILED');
    await expect(reboot()).rejects.toThrow(message);
  });
});
