import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchCapped } from '../../../adapters/tuf/index.ts';

let server: Server | undefined;
afterEach(() => {
  server?.closeAllConnections();
  server?.close();
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/timestamp.json`;
}

describe('fetchCapped (metadata downloads)', () => {
  it('reads at most one byte past the cap, so the caller sees endless data', async () => {
    const url = await serve((_req, res) => res.end(Buffer.alloc(10_000, 1)));
    expect((await fetchCapped(url, 100))?.byteLength).toBe(101);
  });

  it('fails with SLOW_RETRIEVAL when a server trickles bytes below the floor', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': 1000 });
      const timer = setInterval(() => res.write('x'), 100);
      res.on('close', () => clearInterval(timer));
    });
    await expect(fetchCapped(url, 1000, { minBytesPerSecond: 100, windowMs: 300 })).rejects.toThrowWithCode(
      'SLOW_RETRIEVAL',
    );
  });

  it('fails with SLOW_RETRIEVAL when a server never answers at all', async () => {
    const url = await serve(() => {}); // accepts, then says nothing
    await expect(fetchCapped(url, 1000, { minBytesPerSecond: 1, windowMs: 300 })).rejects.toThrowWithCode(
      'SLOW_RETRIEVAL',
    );
  });
});
