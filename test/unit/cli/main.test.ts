import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../../cli/main.ts';
import { captureIo } from '../../cli-io.ts';

async function run(...argv: string[]) {
  const io = captureIo();
  const status = await main(argv, io);
  return { status, stdout: io.stdout(), stderr: io.stderr() };
}

describe('uproll CLI', () => {
  it('lists its commands with --help', async () => {
    const { status, stdout } = await run('--help');
    expect(status).toBe(0);
    for (const command of ['dev up', 'dev down', 'dev status', 'demo']) expect(stdout).toContain(command);
  });

  it("explains a command's options with <command> --help", async () => {
    const { status, stdout } = await run('dev', 'up', '--help');
    expect(status).toBe(0);
    expect(stdout).toContain('--temporal-port');
    expect(stdout).toContain('--json');
  });

  it('lists the commands of a group with <group> --help, and only those', async () => {
    const keys = await run('keys', '--help');
    expect(keys.status).toBe(0);
    expect(keys.stdout).toContain('Usage: uproll keys <command>');
    for (const command of ['keys init', 'keys rotate', 'keys root propose'])
      expect(keys.stdout).toContain(command);
    expect(keys.stdout).not.toContain('rollout start');
    const root = await run('keys', 'root', '--help');
    expect(root.stdout).toContain('keys root publish');
    expect(root.stdout).not.toContain('keys rotate');
  });

  it("answers a group without its command with the group's commands, exit 2", async () => {
    const { status, stderr } = await run('rollout');
    expect(status).toBe(2);
    expect(stderr).toContain('"rollout" needs a command');
    expect(stderr).toContain('rollout rollback');
  });

  describe('when the command line cannot be understood', () => {
    it.each([[['launch', 'rockets']], [['dev', 'up', '--bogus']], [['demo', '--devices', '1']]])(
      'exits 2 with the usage for %j',
      async (argv) => {
        const { status, stderr } = await run(...argv);
        expect(status).toBe(2);
        expect(stderr).toMatch(/Usage:|unknown command/);
      },
    );
  });

  describe('when an option has a bad value', () => {
    it('exits 1 with a coded message and starts nothing', async () => {
      const { status, stderr } = await run(
        'dev',
        'up',
        '--temporal-port',
        '99999',
        '--state-dir',
        '/nonexistent/x',
      );
      expect(status).toBe(1);
      expect(stderr).toBe(
        'uproll: INVALID_INPUT: --temporal-port must be a port number from 1 to 65535, got "99999"',
      );
    });
  });

  describe('dev status on a state directory without a stack', () => {
    it('reports both servers stopped as JSON and exits 3', async () => {
      const stateDir = await mkdtemp(join(tmpdir(), 'uproll-cli-'));
      const { status, stdout } = await run('dev', 'status', '--json', '--state-dir', stateDir);
      expect(status).toBe(3);
      expect(JSON.parse(stdout)).toMatchObject({ temporal: { running: false }, nats: { running: false } });
    });
  });

  describe('demo without a running stack', () => {
    it('exits 1 with STACK_NOT_RUNNING and the command to run', async () => {
      const stateDir = await mkdtemp(join(tmpdir(), 'uproll-cli-'));
      const { status, stderr } = await run('demo', '--state-dir', stateDir);
      expect(status).toBe(1);
      expect(stderr).toContain('STACK_NOT_RUNNING');
      expect(stderr).toContain('uproll dev up');
    });
  });

  describe('when a command fails on an error that has no code of its own', () => {
    afterEach(() => {
      delete process.env['UPROLL_DEBUG'];
    });
    const badPolicy = async () => {
      const policy = join(await mkdtemp(join(tmpdir(), 'uproll-cli-')), 'policy.json');
      await writeFile(policy, '{"canary": ');
      return ['rollout', 'plan', '--device', 'dev-1', '--policy', policy];
    };

    it('names a missing file with FILE_NOT_FOUND and exits 1', async () => {
      const { status, stderr } = await run(
        ...['release', 'revision', '2.0', '/nonexistent/rootfs.img', '--hardware-id', 'rpi4'],
        ...['--release-counter', '1', '--passphrase-env', 'HOME'],
      );
      expect(status).toBe(1);
      expect(stderr).toBe(
        "uproll: FILE_NOT_FOUND: ENOENT: no such file or directory, stat '/nonexistent/rootfs.img'",
      );
    });

    it('prints one coded line and exits 1, the stack only with UPROLL_DEBUG=1', async () => {
      const quiet = await run(...(await badPolicy()));
      expect(quiet.status).toBe(1);
      expect(quiet.stderr).toMatch(/^uproll: [A-Z_]+: .*JSON.*$/);

      process.env['UPROLL_DEBUG'] = '1';
      const debug = await run(...(await badPolicy()));
      expect(debug.status).toBe(1);
      expect(debug.stderr.split('\n')[0]).toMatch(/^uproll: [A-Z_]+: .*JSON/);
      expect(debug.stderr).toMatch(/\n\s+at .*rollout\.ts/);
    });
  });
});
