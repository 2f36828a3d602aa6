import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { findFreePort, findNatsServer } from '../../services/dev-stack/index.ts';
import { eventually } from './eventually.ts';

/**
 * An operator's own nats-server for a test, on free loopback ports: `configArgs` are what
 * `uproll nats config` is given to write `configFile`, `start()` runs the server from that file
 * alone and waits until JetStream is up, `stop()` ends it (it can be started again).
 */
export async function ownNatsServer(work: string) {
  const [port, monitor] = [await findFreePort(), await findFreePort()];
  const url = `nats://127.0.0.1:${port}`;
  const monitorUrl = `http://127.0.0.1:${monitor}`;
  const configFile = join(work, 'nats-server.conf');
  let child: ChildProcess | undefined;
  return {
    url,
    configFile,
    configArgs: [
      ...['--out', configFile, '--host', '127.0.0.1', '--port', String(port)],
      ...['--monitor-port', String(monitor)],
      ...['--store-dir', join(work, 'jetstream'), '--resolver-dir', join(work, 'accounts')],
    ],

    async start(): Promise<void> {
      const started = spawn(await findNatsServer(), ['-c', configFile], { stdio: 'ignore' });
      child = started;
      await eventually('the operator’s nats-server to be ready with JetStream', async () => {
        if (started.exitCode !== null) throw new Error(`nats-server exited ${started.exitCode}`);
        const health = await fetch(`${monitorUrl}/healthz?js-enabled=true`).catch(() => undefined);
        return health?.ok;
      });
    },

    async stop(): Promise<void> {
      if (!child || child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}
