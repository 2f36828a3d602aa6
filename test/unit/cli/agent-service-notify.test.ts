import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulatedRepositories } from '../../../sim/index.ts';
import { startAgentProcess, type AgentProcess } from '../../helpers/agent-process.ts';
import { eventually } from '../../helpers/eventually.ts';
import { bindNotifySocket, type NotifySocket } from '../../helpers/notify-socket.ts';

let root: string;
let repos: Awaited<ReturnType<typeof startSimulatedRepositories>>;
let notify: NotifySocket;
let agent: AgentProcess | undefined;
let bundle: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'uproll-agent-notify-'));
  repos = await startSimulatedRepositories(join(root, 'repositories'));
  bundle = join(root, 'bundle');
  await repos.enroll('notify-dev', { bundleDir: bundle });
  notify = await bindNotifySocket();
});
afterEach(async () => {
  await agent?.kill();
  await notify.close();
  await repos.close();
  await rm(root, { recursive: true, force: true });
});

const agentArgs = () => ['--bundle', bundle, '--data-dir', join(root, 'data'), '--no-cloud'];

describe('uproll-agent as a systemd notify service', () => {
  it('says READY=1 once its control socket listens, pings the watchdog, and says STOPPING=1 on SIGTERM', async () => {
    // WATCHDOG_USEC of 2 s: a ping every second.
    agent = startAgentProcess(agentArgs(), { env: { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: '2000000' } });

    expect(await notify.received('READY=1')).toContain('STATUS=ready');
    await eventually('the agent to log that it is ready', () =>
      agent!.stderr.find((line) => / ready, control socket .*control\.sock$/.test(line)),
    );
    await notify.received('WATCHDOG=1');
    await eventually(
      'a second watchdog ping',
      () => notify.messages.filter((m) => m.includes('WATCHDOG=1')).length >= 2,
    );
    agent.child.kill('SIGTERM');

    expect(await agent.exited).toEqual({ code: 0, signal: null });
    expect(notify.messages.at(-1)).toEqual(['STOPPING=1', 'STATUS=stopping']);
  });

  describe('when the entry point hands over to another Node process (as on a Node without type stripping)', () => {
    it('the agent in the child pings the watchdog systemd set up for the parent', async () => {
      // WATCHDOG_PID is the pid systemd started: the shell's, which exec keeps for the entry point.
      agent = startAgentProcess([], {
        env: { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: '2000000' },
        command: [
          'sh',
          '-c',
          `WATCHDOG_PID=$$ exec "${process.execPath}" --no-experimental-strip-types bin/uproll-agent.js "$@"`,
          'sh',
          ...agentArgs(),
        ],
      });

      await notify.received('READY=1');
      await notify.received('WATCHDOG=1');
    }, 60_000);
  });

  describe('when the watchdog watches another process (WATCHDOG_PID)', () => {
    it('is ready but never pings', async () => {
      agent = startAgentProcess(agentArgs(), {
        env: {
          NOTIFY_SOCKET: notify.path,
          WATCHDOG_USEC: '200000',
          WATCHDOG_PID: '1',
        },
      });
      await notify.received('READY=1');
      agent.child.kill('SIGTERM');
      await agent.exited;

      expect(notify.messages.filter((m) => m.includes('WATCHDOG=1'))).toEqual([]);
    });
  });

  describe('when there is no NOTIFY_SOCKET', () => {
    it('runs and stops as before, without a notification', async () => {
      agent = startAgentProcess(agentArgs(), { env: { NOTIFY_SOCKET: '', WATCHDOG_USEC: '2000000' } });
      await agent.ready();
      agent.child.kill('SIGTERM');

      expect(await agent.exited).toEqual({ code: 0, signal: null });
      expect(notify.messages).toEqual([]);
    });
  });
});

describe('uproll-agent --log-format', () => {
  it('json: every line one JSON object with its priority and message', async () => {
    agent = startAgentProcess([...agentArgs(), '--log-format', 'json'], { env: { NOTIFY_SOCKET: '' } });
    const ready = await eventually('the ready line', () => agent!.stderr.find((l) => l.includes(' ready, ')));
    agent.child.kill('SIGTERM');
    await agent.exited;

    expect(JSON.parse(ready)).toEqual({
      priority: 'info',
      message: `notify-dev ready, control socket ${join(root, 'data', 'control.sock')}`,
    });
    for (const line of agent.stderr) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
  });

  it('refuses a format it does not know, with exit status 2', async () => {
    agent = startAgentProcess([...agentArgs(), '--log-format', 'xml']);

    expect(await agent.exited).toEqual({ code: 2, signal: null });
    expect(agent.stderr[0]).toBe('uproll-agent: --log-format is text or json');
  });
});
