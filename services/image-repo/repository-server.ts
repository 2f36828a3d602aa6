import { constants } from 'node:fs';
import { lstat, open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWebServer, listenOn, urlHost, type ServerKeyPair } from '../tls/index.ts';

export interface RepositoryServer {
  /** e.g. `http://127.0.0.1:4567` */
  url: string;
  /** Base URL of the TUF metadata, ending in `/`. */
  metadataUrl: string;
  /** Base URL of the targets, ending in `/`. */
  targetsUrl: string;
  /** Base URL of the OSTree repository (Image repository only), ending in `/`. */
  ostreeUrl: string;
  close(): Promise<void>;
}

const SEGMENT = /^[A-Za-z0-9._-]{1,255}$/;
/**
 * Top-level folders an Image repository serves (`ostree`: its archive-mode
 * OSTree repository, pulled by checksum); the Director serves `devices/<id>/metadata`.
 */
const IMAGE_AREAS = ['metadata', 'targets', 'ostree'];

/**
 * Serves a repository directory over HTTP: `/metadata/*`, `/targets/*` and `/ostree/*`,
 * GET and HEAD only, with ETag / If-None-Match and single byte ranges so
 * devices resume broken downloads. Paths are checked segment by segment and
 * can never leave the directory.
 */
export async function startRepositoryServer(options: {
  dir: string;
  host?: string;
  port?: number;
  /** Top-level folders served (default: metadata and targets). */
  areas?: readonly string[];
  /** Serve HTTPS with this certificate; plain HTTP without (development only). */
  tls?: ServerKeyPair;
}): Promise<RepositoryServer> {
  const areas = new Set(options.areas ?? IMAGE_AREAS);
  const { server, scheme } = createWebServer((request, response) => {
    handle(options.dir, areas, request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  }, options.tls);
  const host = options.host ?? '127.0.0.1';
  await listenOn(
    server,
    host,
    options.port ?? 0,
    areas.has('devices') ? 'the Director' : 'the Image repository',
  );
  const address = server.address();
  const url = `${scheme}://${urlHost(host)}:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    url,
    metadataUrl: `${url}/metadata/`,
    targetsUrl: `${url}/targets/`,
    ostreeUrl: `${url}/ostree/`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

async function handle(
  dir: string,
  areas: ReadonlySet<string>,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD')
    return void response.writeHead(405, { allow: 'GET, HEAD' }).end();
  let segments: string[];
  try {
    segments = new URL(request.url ?? '/', 'http://x').pathname.split('/').slice(1).map(decodeURIComponent);
  } catch {
    return void response.writeHead(400).end();
  }
  const valid =
    segments.length >= 2 &&
    areas.has(segments[0] ?? '') &&
    segments.every((s) => SEGMENT.test(s) && !/^\.+$/.test(s));
  if (!valid) return void response.writeHead(404).end();
  const file = await openInside(dir, segments);
  if (!file) return void response.writeHead(404).end();
  try {
    await serveFile(file, request, response);
  } finally {
    await file.close();
  }
}

/**
 * Opens `dir/segments…` only through real directories to a regular file:
 * every segment is lstat'ed and the file opened with O_NOFOLLOW, so a
 * symlink anywhere on the path (planted in the repository, or swapped in
 * between the check and the open) is never followed out of `dir`.
 */
async function openInside(dir: string, segments: readonly string[]): Promise<FileHandle | undefined> {
  let path = dir;
  for (const [i, segment] of segments.entries()) {
    path = join(path, segment);
    const info = await lstat(path).catch(() => undefined);
    const last = i === segments.length - 1;
    if (!info || (last ? !info.isFile() : !info.isDirectory())) return undefined;
  }
  const file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
  if (!file) return undefined;
  // What was opened, as the kernel names it: a directory swapped for a symlink after its lstat shows here.
  const opened = await readlink(`/proc/self/fd/${file.fd}`).catch(() => '');
  if (!(await file.stat()).isFile() || !opened.startsWith(`${await realpath(dir)}${sep}`)) {
    await file.close();
    return undefined;
  }
  return file;
}

async function serveFile(
  file: FileHandle,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const info = await file.stat();
  const etag = `"${info.size.toString(16)}-${Math.trunc(info.mtimeMs).toString(16)}"`;
  const headers = { etag, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
  if (request.headers['if-none-match'] === etag) return void response.writeHead(304, headers).end();

  const range = parseRange(request.headers.range, info.size);
  if (range === 'unsatisfiable') {
    return void response.writeHead(416, { ...headers, 'content-range': `bytes */${info.size}` }).end();
  }
  const { start, end } = range ?? { start: 0, end: info.size - 1 };
  const length = info.size === 0 ? 0 : end - start + 1;
  response.writeHead(range ? 206 : 200, {
    ...headers,
    'content-length': length,
    ...(range ? { 'content-range': `bytes ${start}-${end}/${info.size}` } : {}),
  });
  if (request.method === 'HEAD' || length === 0) return void response.end();
  await pipeline(file.createReadStream({ start, end, autoClose: false }), response);
}

/** One `bytes=` range (RFC 9110 14.1.2); several ranges are served whole. */
function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  const match = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!match) return undefined;
  const [, from = '', to = ''] = match;
  if (from === '' && to === '') return undefined;
  let start: number;
  let end: number;
  if (from === '') {
    start = Math.max(0, size - Number(to));
    end = size - 1;
  } else {
    start = Number(from);
    end = to === '' ? size - 1 : Math.min(Number(to), size - 1);
  }
  return start >= size || start > end ? 'unsatisfiable' : { start, end };
}
