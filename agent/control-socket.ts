import { chmod, mkdir, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { z } from 'zod';
import {
  isUprollError,
  MAX_COMMAND_BYTES,
  parseJson,
  rolloutIdSchema,
  sha256Schema,
  stateRevisionSchema,
  updateCommandSchema,
  UprollError,
} from '../core/index.ts';
import type { JournalEntry } from './report-journal.ts';
import type { UpdateManager } from './update-manager.ts';

/** `POST /v1/commands`: what a local client may ask of the update manager besides a new update. */
export const controlCommandSchema = z.discriminatedUnion('command', [
  z.object({
    command: z.literal('install'),
    revision: stateRevisionSchema.shape.name,
    rolloutId: rolloutIdSchema,
  }),
  z.object({ command: z.literal('commit') }),
  z.object({ command: z.literal('rollback'), rolloutId: rolloutIdSchema.optional() }),
]);
export type ControlCommand = z.infer<typeof controlCommandSchema>;

const ackSchema = z.object({ upto: z.int().min(0) });

export interface ControlSocket {
  path: string;
  close(): Promise<void>;
}

/**
 * The update manager's local control socket: HTTP over a UNIX socket (mode
 * 0600), an open protocol any cloud client on the device can drive
 * (Uproll's over NATS, or another provider's). See the README.
 *
 *   GET  /v1/status               installer, boot control, running update and its download progress, apps
 *   GET  /v1/history              outcomes of past updates, oldest first
 *   POST /v1/updates              stage and run a state revision (an update command)
 *   PUT  /v1/objects/<sha256>     hand over an object a known or assigned revision names (checked as it streams)
 *   POST /v1/commands             install a revision from history, commit, roll back
 *   GET  /v1/events?after=N       server-sent events: every report, numbered, from the journal
 *   POST /v1/events/ack           the client delivered every report up to `upto`
 */
export async function startControlSocket(path: string, manager: UpdateManager): Promise<ControlSocket> {
  const subscribers = new Set<ServerResponse>();
  const server = createServer((request, response) => {
    route(request, response).catch((err: unknown) => problem(response, err));
  });

  async function route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://device');
    const key = `${request.method} ${url.pathname}`;
    if (key === 'GET /v1/status') {
      const bootloader = await manager.bootloaderStatus();
      return json(response, 200, {
        installer: manager.installer.kind,
        bootControl: await manager.boot.read(),
        ...(bootloader ? { bootloader } : {}),
        ...(manager.bootEnvRepaired ? { bootEnvRepaired: manager.bootEnvRepaired } : {}),
        running: manager.running ?? null,
        ...(manager.progress ? { progress: manager.progress } : {}),
        apps: await manager.apps.status(),
      });
    }
    if (key === 'GET /v1/history') return json(response, 200, await manager.history.entries());
    if (key === 'POST /v1/updates') {
      const reply = await manager.accept(await readJson(request, updateCommandSchema, 'update command'));
      return json(response, reply.accepted ? 202 : 409, reply);
    }
    if (request.method === 'PUT' && url.pathname.startsWith('/v1/objects/')) {
      const sha256 = sha256Schema.safeParse(url.pathname.slice('/v1/objects/'.length));
      if (!sha256.success) throw new UprollError('INVALID_INPUT', 'objects are named by their sha256');
      // Only an object a revision names, capped at its length (not at the 1 TiB any artifact may be).
      const artifact = await manager.expectedObject(sha256.data);
      if (!artifact)
        throw new UprollError(
          'NOT_ASSIGNED',
          `object ${sha256.data} is in no revision this device holds or is assigned`,
        );
      const length = await manager.objects.put(artifact, request);
      return json(response, 201, { sha256: sha256.data, length });
    }
    if (key === 'POST /v1/commands')
      return json(response, 200, await run(await readJson(request, controlCommandSchema, 'command')));
    if (key === 'GET /v1/events') return follow(response, Number(url.searchParams.get('after') ?? 0) || 0);
    if (key === 'POST /v1/events/ack') {
      await manager.journal.ack((await readJson(request, ackSchema, 'ack')).upto);
      return json(response, 200, { acked: await manager.journal.acked() });
    }
    throw new UprollError('INVALID_INPUT', `no ${key} on the control socket`);
  }

  async function run(command: ControlCommand): Promise<unknown> {
    if (command.command === 'commit') return manager.commitNow();
    if (command.command === 'rollback') return manager.rollbackNow(command.rolloutId);
    const reply = await manager.installFromHistory(command.revision, command.rolloutId);
    if (!reply.accepted) throw new UprollError('COMMAND_REJECTED', reply.error.message);
    return reply;
  }

  /** Journal entries after `after`, then each new one as it is appended; never one twice. */
  async function follow(response: ServerResponse, after: number): Promise<void> {
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    let sent = after;
    const send = (entry: JournalEntry) => {
      if (entry.seq <= sent) return;
      sent = entry.seq;
      response.write(`id: ${entry.seq}\ndata: ${JSON.stringify(entry)}\n\n`);
    };
    const early: JournalEntry[] = [];
    let live = false;
    const stop = manager.journal.onAppend((entry) => (live ? send(entry) : early.push(entry)));
    subscribers.add(response);
    response.on('close', () => {
      stop();
      subscribers.delete(response);
    });
    for (const entry of await manager.journal.after(after)) send(entry);
    for (const entry of early) send(entry);
    live = true;
  }

  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // Two agents on one data directory would take each other's socket and state.
  if (await answers(path))
    throw new UprollError(
      'DATA_DIR_IN_USE',
      `another agent runs on ${dirname(path)}: its control socket ${path} answers (stop it first)`,
    );
  await rm(path, { force: true }); // a socket file left by a crash
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o600);

  return {
    path,
    async close() {
      for (const subscriber of subscribers) subscriber.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(path, { force: true });
    },
  };
}

/** True when something listens on the socket `path`; a file left by a crash refuses the connection. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

async function readJson<S extends z.ZodType>(
  request: IncomingMessage,
  schema: S,
  what: string,
): Promise<z.infer<S>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > MAX_COMMAND_BYTES)
      throw new UprollError('INPUT_TOO_LARGE', `the ${what} is over ${MAX_COMMAND_BYTES} bytes`);
    chunks.push(chunk);
  }
  return parseJson(schema, Buffer.concat(chunks), { maxBytes: MAX_COMMAND_BYTES, what });
}

function json(response: ServerResponse, status: number, value: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
}

function problem(response: ServerResponse, err: unknown): void {
  const code = isUprollError(err) ? err.code : 'INSTALL_FAILED';
  const status =
    code === 'INPUT_TOO_LARGE' || code === 'ENDLESS_DATA'
      ? 413
      : code === 'COMMAND_REJECTED'
        ? 409
        : isUprollError(err)
          ? 400
          : 500;
  if (!response.headersSent)
    json(response, status, { code, message: err instanceof Error ? err.message : String(err) });
  else response.end();
}
