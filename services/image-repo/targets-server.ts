import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

/** Target names the server will look up: a plain file name, nothing that walks the tree. */
const TARGET_NAME = /^[A-Za-z0-9._-]{1,200}$/;

export interface TargetsServer {
  /** Base URL of the targets, e.g. `http://127.0.0.1:4567/targets/`. */
  targetsUrl: string;
  close(): Promise<void>;
}

/**
 * Serves the files of a directory as TUF-style targets at `/targets/<name>`.
 * The seed of the Image repository service: signed metadata, consistent
 * snapshots and ranges arrive with the keys-and-repositories issue.
 */
export async function startTargetsServer(options: {
  dir: string;
  host?: string;
  port?: number;
}): Promise<TargetsServer> {
  const server = createServer((request, response) => {
    const name = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname).replace(
      /^\/targets\//,
      '',
    );
    const refuse = (status: number) => {
      response.writeHead(status).end();
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') return refuse(405);
    if (!TARGET_NAME.test(name) || /^\.+$/.test(name)) return refuse(404);
    const path = join(options.dir, name);
    stat(path).then(
      async (info) => {
        if (!info.isFile()) return refuse(404);
        response.writeHead(200, { 'content-length': info.size, 'content-type': 'application/octet-stream' });
        if (request.method === 'HEAD') return void response.end();
        await pipeline(createReadStream(path), response).catch(() => response.destroy());
      },
      () => refuse(404),
    );
  });
  await listen(server, options.host ?? '127.0.0.1', options.port ?? 0);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    targetsUrl: `http://${options.host ?? '127.0.0.1'}:${port}/targets/`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}
