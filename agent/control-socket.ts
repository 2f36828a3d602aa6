import { chmod, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  isUprollError,
  MAX_COMMAND_BYTES,
  parseJson,
  updateCommandSchema,
  UprollError,
  type Telemetry,
} from '../core/index.ts';
import type { UpdateManager } from './update-manager.ts';

/** Events kept for a client that (re)connects late; older ones are gone. */
const BACKLOG = 256;

export interface ControlSocket {
  path: string;
  /** Hands a report of the update manager to every events subscriber (and the backlog). */
  publish(telemetry: Telemetry): void;
  close(): Promise<void>;
}

/**
 * The update manager's local control socket: HTTP over a UNIX socket
 * (mode 0600), so any cloud client on the device (Uproll's over NATS, or
 * another provider's) can drive it.
 *
 *   GET  /v1/status            boot control and the running update
 *   GET  /v1/history           the last report of each update
 *   POST /v1/updates           stage and run an update (an update command)
 *   POST /v1/rollback          go back to the previous slot
 *   GET  /v1/events?after=N    server-sent events: every report, numbered
 */
export async function startControlSocket(path: string, manager: UpdateManager): Promise<ControlSocket> {
  const backlog: { seq: number; telemetry: Telemetry }[] = [];
  const subscribers = new Set<ServerResponse>();
  let seq = 0;

  const server = createServer((request, response) => {
    route(request, response).catch((err: unknown) => problem(response, err));
  });

  async function route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://device');
    const key = `${request.method} ${url.pathname}`;
    if (key === 'GET /v1/status')
      return json(response, 200, {
        bootControl: await manager.slots.read(),
        running: manager.running ?? null,
      });
    if (key === 'GET /v1/history') return json(response, 200, manager.history());
    if (key === 'POST /v1/updates') {
      const command = parseJson(updateCommandSchema, await body(request), {
        maxBytes: MAX_COMMAND_BYTES,
        what: 'update command',
      });
      const reply = manager.accept(command);
      return json(response, reply.accepted ? 202 : 409, reply);
    }
    if (key === 'POST /v1/rollback') return json(response, 200, await manager.rollbackNow());
    if (key === 'GET /v1/events') {
      const after = Number(url.searchParams.get('after') ?? 0);
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      for (const event of backlog) if (event.seq > after) sendEvent(response, event.seq, event.telemetry);
      subscribers.add(response);
      response.on('close', () => subscribers.delete(response));
      return;
    }
    throw new UprollError('INVALID_INPUT', `no ${key} on the control socket`);
  }

  await rm(path, { force: true }); // a socket file left by a crash
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o600);

  return {
    path,
    publish(telemetry) {
      seq += 1;
      backlog.push({ seq, telemetry });
      if (backlog.length > BACKLOG) backlog.shift();
      for (const subscriber of subscribers) sendEvent(subscriber, seq, telemetry);
    },
    async close() {
      for (const subscriber of subscribers) subscriber.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(path, { force: true });
    },
  };
}

function sendEvent(response: ServerResponse, seq: number, telemetry: Telemetry): void {
  response.write(`id: ${seq}\ndata: ${JSON.stringify(telemetry)}\n\n`);
}

async function body(request: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > MAX_COMMAND_BYTES)
      throw new UprollError('INPUT_TOO_LARGE', `the request is over ${MAX_COMMAND_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function json(response: ServerResponse, status: number, value: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
}

function problem(response: ServerResponse, err: unknown): void {
  const code = isUprollError(err) ? err.code : 'INSTALL_FAILED';
  const status = code === 'INPUT_TOO_LARGE' ? 413 : isUprollError(err) ? 400 : 500;
  if (!response.headersSent)
    json(response, status, { code, message: err instanceof Error ? err.message : String(err) });
  else response.end();
}
