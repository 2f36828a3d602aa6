import { createServer, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/** How the proxy misbehaves for object downloads (`/targets/objects/...`). */
export interface ObjectFaults {
  /** Cut the connection after this many body bytes, once. */
  dropAfterBytes?: number;
  /** With `dropAfterBytes`: stall there and cut only once this settles (say, once the device wrote what it got). */
  dropWhen?: Promise<void>;
  /** Send at most this many bytes per second. */
  bytesPerSecond?: number;
}

/**
 * A proxy in front of a repository server on 127.0.0.1 that counts the
 * body bytes and requests of object downloads (so a test measures what a
 * device really fetched) and can break or slow them. Bytes and requests of
 * OSTree pulls (`/ostree/...`) are counted apart.
 */
export async function startCountingProxy(upstream: string) {
  const stats = {
    objectBytes: 0,
    objectRequests: [] as { path: string; range?: string }[],
    ostreeBytes: 0,
    ostreeRequests: 0,
  };
  const faults: ObjectFaults = {};
  let holding: { requested: () => void; released: Promise<void> } | undefined;
  const server = createServer((request, response) => {
    void forward(request.url ?? '/', request.headers.range, response).catch(() => response.destroy());
  });

  async function forward(path: string, range: string | undefined, response: ServerResponse): Promise<void> {
    const isObject = path.startsWith('/targets/objects/');
    const isOstree = path.startsWith('/ostree/');
    if (isOstree) stats.ostreeRequests++;
    if (isObject) {
      stats.objectRequests.push({ path, ...(range ? { range } : {}) });
      const held = holding;
      held?.requested();
      await held?.released;
    }
    const upstreamResponse = await fetch(`${upstream}${path}`, { headers: range ? { range } : {} });
    const headers: Record<string, string> = {};
    for (const name of ['content-length', 'content-range', 'etag', 'accept-ranges'])
      if (upstreamResponse.headers.has(name)) headers[name] = upstreamResponse.headers.get(name) ?? '';
    response.writeHead(upstreamResponse.status, headers);
    if (!upstreamResponse.body) return void response.end();
    for await (const chunk of upstreamResponse.body as AsyncIterable<Uint8Array>) {
      for (let offset = 0; offset < chunk.byteLength;) {
        let piece = chunk.subarray(
          offset,
          offset + (isObject && faults.bytesPerSecond ? 1024 : chunk.byteLength),
        );
        if (isObject && faults.dropAfterBytes !== undefined) {
          const left = faults.dropAfterBytes - stats.objectBytes;
          if (left <= 0) {
            await faults.dropWhen;
            delete faults.dropAfterBytes;
            delete faults.dropWhen;
            response.destroy();
            return;
          }
          piece = piece.subarray(0, left);
        }
        if (isObject) stats.objectBytes += piece.byteLength;
        if (isOstree) stats.ostreeBytes += piece.byteLength;
        const written = new Promise<void>((resolve) => response.write(piece, () => resolve()));
        // Before a cut, what was sent must have left for the device: a destroy drops what is still buffered.
        if (isObject && faults.dropAfterBytes !== undefined) await written;
        offset += piece.byteLength;
        if (isObject && faults.bytesPerSecond) await sleep((piece.byteLength / faults.bytesPerSecond) * 1000);
      }
    }
    response.end();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    url,
    stats,
    faults,
    /**
     * Holds object requests until `release()`: a download provably in flight.
     * `requested` settles when the first held request arrives.
     */
    hold() {
      let requested!: () => void;
      let release!: () => void;
      const gate = {
        requested: new Promise<void>((resolve) => (requested = resolve)),
        released: new Promise<void>((resolve) => (release = resolve)),
      };
      holding = { requested, released: gate.released };
      return {
        requested: gate.requested,
        release: () => {
          holding = undefined;
          release();
        },
      };
    },
    reset() {
      stats.objectBytes = 0;
      stats.objectRequests.length = 0;
      stats.ostreeBytes = 0;
      stats.ostreeRequests = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
