import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { isAlive } from '../../services/dev-stack/processes.ts';
import {
  findFreePort,
  localNatsTls,
  serviceCredentials,
  stopLocalStack,
} from '../../services/dev-stack/index.ts';
import { connectToNats, ensureStreams, EventLog } from '../../services/nats/index.ts';
import { captureIo } from '../cli-io.ts';

const run = promisify(execFile);
let stateDir: string;
let ports: string[];

async function uproll(...argv: string[]) {
  const io = captureIo();
  const status = await main([...argv, '--state-dir', stateDir], io);
  return { status, stdout: io.stdout(), stderr: io.stderr() };
}

async function withServiceEventLog<T>(body: (log: EventLog) => Promise<T>): Promise<T> {
  const nc = await connectToNats({
    servers: `127.0.0.1:${ports[3]}`,
    tls: await localNatsTls(stateDir),
    nkeySeed: await serviceCredentials(stateDir),
    name: 'dev-stack-test',
  });
  try {
    await ensureStreams(nc);
    return await body(new EventLog(nc));
  } finally {
    await nc.close();
  }
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'uproll-devstack-'));
  const [temporal, monitor, nats] = [await findFreePort(), await findFreePort(), await findFreePort()];
  ports = [
    '--temporal-port',
    String(temporal),
    '--nats-port',
    String(nats),
    '--nats-monitor-port',
    String(monitor),
  ];
});
afterAll(async () => {
  await stopLocalStack(stateDir);
  await rm(stateDir, { recursive: true, force: true });
});

describe('uproll dev up / status / down', () => {
  it('starts Temporal and NATS, reports them, and stops only what it started', async () => {
    const up = await uproll('dev', 'up', '--json', ...ports);
    expect(up.status).toBe(0);
    const started = JSON.parse(up.stdout) as { temporal: { pid: number }; nats: { pid: number } };
    expect(isAlive(started.temporal.pid) && isAlive(started.nats.pid)).toBe(true);

    const status = await run(process.execPath, ['bin/uproll.js', 'dev', 'status', '--state-dir', stateDir]);
    expect(status.stdout).toMatch(/temporal\s+running/);
    expect(status.stdout).toMatch(/nats\s+running/);

    const again = await uproll('dev', 'up', '--json');
    expect(JSON.parse(again.stdout)).toMatchObject({ temporal: { pid: started.temporal.pid } });

    const down = await uproll('dev', 'down');
    expect(down.stdout).toBe('stopped temporal and nats');
    expect(isAlive(started.temporal.pid) || isAlive(started.nats.pid)).toBe(false);
    expect((await uproll('dev', 'status')).status).toBe(3);
  });

  it('keeps its state across down and up', async () => {
    await uproll('dev', 'up');
    await withServiceEventLog((log) =>
      log.append(
        {
          aggregate: 'device',
          aggregateId: 'survivor',
          type: 'kept',
          at: new Date(0).toISOString(),
          data: {},
        },
        { msgId: 'survivor/kept' },
      ),
    );
    await uproll('dev', 'down');
    await uproll('dev', 'up');
    const events = await withServiceEventLog((log) => log.read('device', 'survivor'));
    expect(events.map((e) => e.event.type)).toEqual(['kept']);
  });

  it('keeps its one nats-server: a cluster is refused while it runs, and once JetStream holds data', async () => {
    await uproll('dev', 'up'); // JetStream holds the event of the test above
    const running = await uproll('dev', 'up', '--nats-cluster', '3');
    expect(running.status).not.toBe(0);
    expect(running.stderr).toContain('INVALID_INPUT');
    expect(running.stderr).toContain('`uproll dev down` first');

    await uproll('dev', 'down');
    const withData = await uproll('dev', 'up', '--nats-cluster', '3');
    expect(withData.status).not.toBe(0);
    expect(withData.stderr).toContain('JetStream holds data');
    expect((await uproll('dev', 'status')).status).toBe(3); // nothing started
  });

  describe('when a port is taken', () => {
    it('fails with PORT_IN_USE naming the port', async () => {
      await uproll('dev', 'up');
      const otherDir = await mkdtemp(join(tmpdir(), 'uproll-devstack-other-'));
      const io = captureIo();
      const status = await main(['dev', 'up', '--state-dir', otherDir, ...ports], io);
      expect(status).toBe(1);
      expect(io.stderr()).toContain(`uproll: PORT_IN_USE: port ${ports[3]}`);
      await rm(otherDir, { recursive: true, force: true });
    });
  });
});
