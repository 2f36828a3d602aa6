import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../../../services/dev-stack/index.ts';
import { startSimulatedRepositories } from '../../../sim/index.ts';
import { startAgentProcess, type AgentProcess } from '../../helpers/agent-process.ts';
import { watchProcess, type CliProcess } from '../../helpers/cli-process.ts';
import { eventually } from '../../helpers/eventually.ts';
import { bindNotifySocket, type NotifySocket } from '../../helpers/notify-socket.ts';

// `uproll ... | head -1` once head has quit: the command's stdout (or stderr) is a pipe that nobody
// reads any more. Here a named pipe opened read-write and then write-only, the read-write end
// closed before the command starts: its first write there fails with EPIPE, every time, where a
// real reader that quits would race with the writer.
const WITH_CLOSED_PIPE = `
mkfifo "$1" && exec 3<>"$1" 4>"$1" 3<&- && rm "$1" || exit 99
fd=$2; shift 2
if [ "$fd" = 1 ]; then exec "$@" >&4 4>&-; else exec "$@" 2>&4 4>&-; fi`;

/** A stack trace, or Node's report of an unhandled EPIPE. */
const CRASH = /EPIPE|^\s+at /m;

let dir: string;
let pipes = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uproll-closed-pipe-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** The command line that runs `node BIN ARGV` with `stream` a pipe nobody reads. */
function withClosedPipe(stream: 'stdout' | 'stderr', bin: string, argv: readonly string[]): string[] {
  const fifo = join(dir, `pipe-${++pipes}`);
  const fd = stream === 'stdout' ? '1' : '2';
  return ['sh', '-c', WITH_CLOSED_PIPE, 'sh', fifo, fd, process.execPath, bin, ...argv];
}

/** Starts `node BIN ARGV` from the repository root with `stream` a pipe nobody reads. */
function runWithClosedPipe(stream: 'stdout' | 'stderr', bin: string, argv: readonly string[]): CliProcess {
  const [program, ...args] = withClosedPipe(stream, bin, argv);
  return watchProcess(spawn(program!, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** `uproll serve` of the Image repository alone: it needs neither Temporal nor NATS. */
function serveImage(port: number): string[] {
  return ['serve', '--only', 'image', '--insecure', '--image-port', String(port), '--state-dir', dir];
}

describe('when nobody reads stdout any more', () => {
  it.each([
    ['bin/uproll.js', 'uproll'],
    ['bin/uproll-tuf.js', 'uproll-tuf'],
    ['bin/uproll-agent.js', 'uproll-agent'],
  ])('%s --help exits 0 and says nothing of it', async (bin) => {
    const cli = runWithClosedPipe('stdout', bin, ['--help']);
    const { code } = await cli.exited;
    expect(cli.stderr.join('\n')).toBe('');
    expect(code).toBe(0);
  });

  it('uproll serve keeps serving, and stops cleanly on SIGTERM', async () => {
    const port = await findFreePort();
    const cli = runWithClosedPipe('stdout', 'bin/uproll.js', serveImage(port));
    // Its ready line went nowhere; it serves all the same (an empty repository: no root yet).
    const answer = await Promise.race([
      eventually('the Image repository to answer', () =>
        fetch(`http://127.0.0.1:${port}/metadata/1.root.json`).then((response) => response.status),
      ),
      cli.exited.then(({ code }) => `serve exited with ${code}`),
    ]);
    expect(answer, cli.stderr.join('\n')).toBe(404);
    cli.child.kill('SIGTERM');
    const { code } = await cli.exited;
    const stderr = cli.stderr.join('\n');
    expect(stderr).toContain('uproll serve: stopped');
    expect(stderr).not.toMatch(CRASH);
    expect(code).toBe(0);
  });
});

describe('when nobody reads stderr any more', () => {
  it('uproll serve stops cleanly on SIGTERM, though it cannot say so', async () => {
    const cli = runWithClosedPipe('stderr', 'bin/uproll.js', serveImage(await findFreePort()));
    const ready = await Promise.race([
      eventually('serve to say it is ready', () => cli.stdout.includes('uproll serve: image ready')),
      cli.exited.then(({ code }) => `serve exited with ${code}`),
    ]);
    expect(ready).toBe(true);
    cli.child.kill('SIGTERM'); // "SIGTERM, stopping" goes to the closed stderr while serve stops
    const { code } = await cli.exited;
    expect(cli.stdout.join('\n')).not.toMatch(CRASH);
    expect(code).toBe(0);
  });

  describe('as uproll-agent logs there (journald restarted under systemd)', () => {
    let repos: Awaited<ReturnType<typeof startSimulatedRepositories>>;
    let notify: NotifySocket;
    let agent: AgentProcess | undefined;
    beforeAll(async () => {
      repos = await startSimulatedRepositories(join(dir, 'repositories'));
      await repos.enroll('pipe-dev', { bundleDir: join(dir, 'bundle') });
      notify = await bindNotifySocket();
    });
    afterAll(async () => {
      await agent?.kill();
      await notify.close();
      await repos.close();
    });

    it('the agent runs on and stops cleanly on SIGTERM', async () => {
      const argv = ['--bundle', join(dir, 'bundle'), '--data-dir', join(dir, 'agent'), '--no-cloud'];
      agent = startAgentProcess([], {
        env: { NOTIFY_SOCKET: notify.path },
        command: withClosedPipe('stderr', 'bin/uproll-agent.js', argv),
      });
      // Its log lines go nowhere, so the service manager's socket tells it is up. The stop comes
      // while systemd-notify still waits on the READY it sent: stopped then, the agent stops cleanly.
      await notify.holdBarriers();
      await Promise.race([notify.received('READY=1'), agent.exited]);
      expect(agent.child.exitCode).toBeNull();
      const stopped = agent.stop();
      await notify.releaseBarriers();
      await stopped;
      expect(await agent.exited).toEqual({ code: 0, signal: null });
    });
  });
});
