import { createServer } from 'node:net';
import { UprollError } from '../../core/index.ts';

/** Fails with PORT_IN_USE, naming what needed the port, when it cannot be bound. */
export async function assertPortFree(host: string, port: number, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new UprollError(
              'PORT_IN_USE',
              `port ${port} on ${host} (${what}) is already in use: stop what holds it or choose another port`,
            )
          : err,
      );
    });
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve()));
  });
}

/** A port that was free a moment ago, chosen by the kernel. */
export async function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Ports for a local NATS cluster of `size` nodes (client, monitoring, routes), each free a moment ago. */
export async function findFreeClusterPorts(size: number) {
  const nodes = [];
  for (let i = 0; i < size; i++)
    nodes.push({ nats: await findFreePort(), monitor: await findFreePort(), route: await findFreePort() });
  return nodes;
}
