import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { downloadVerified } from '../../../adapters/tuf/index.ts';

const content = randomBytes(256 * 1024);
const target = {
  length: content.byteLength,
  hashes: { sha256: createHash('sha256').update(content).digest('hex') },
};
let server: Server | undefined;
afterEach(() => {
  server?.closeAllConnections();
  server?.close();
  server = undefined;
});

/** A server whose behaviour is a function of the request's Range start; counts the bytes it sends. */
async function serve(behaviour: (start: number, response: ServerResponse) => void) {
  const sent = { bytes: 0, requests: [] as string[] };
  server = createServer((request, response) => {
    const start = Number(/^bytes=(\d+)-$/.exec(request.headers.range ?? '')?.[1] ?? 0);
    sent.requests.push(request.headers.range ?? 'whole');
    const write = response.write.bind(response);
    response.write = ((chunk: Uint8Array, ...rest: never[]) => {
      sent.bytes += chunk.byteLength;
      return write(chunk, ...rest);
    }) as typeof response.write;
    behaviour(start, response);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/t`, sent };
}

describe('resumable, verified downloads', () => {
  it('resumes a transfer that broke off with a Range request, fetching nothing twice', async () => {
    let first = true;
    const { url, sent } = await serve((start, response) => {
      if (first) {
        first = false;
        response.writeHead(200, { 'content-length': content.byteLength });
        // The link drops once the client has had time to take what was sent.
        response.write(content.subarray(0, 100_000), () => setTimeout(() => response.destroy(), 400));
        return;
      }
      response.writeHead(206, {
        'content-range': `bytes ${start}-${content.byteLength - 1}/${content.byteLength}`,
      });
      response.write(content.subarray(start));
      response.end();
    });
    const dir = await mkdtemp(join(tmpdir(), 'uproll-resume-'));
    const result = await downloadVerified(url, target, 'rootfs.img', join(dir, 'rootfs.img'));
    expect(sent.requests).toEqual(['whole', expect.stringMatching(/^bytes=\d+-$/)]);
    expect(result.bytes).toBe(content.byteLength);
    expect(sent.bytes).toBe(content.byteLength); // every byte crossed the network once
    expect(await readFile(join(dir, 'rootfs.img'))).toEqual(content);
  });

  it('starts over when the server ignores the range', async () => {
    let first = true;
    const { url } = await serve((_start, response) => {
      response.writeHead(200, { 'content-length': content.byteLength });
      if (first) {
        first = false;
        response.write(content.subarray(0, 50_000), () => setTimeout(() => response.destroy(), 400));
        return;
      }
      response.end(content);
    });
    const dir = await mkdtemp(join(tmpdir(), 'uproll-resume-'));
    await downloadVerified(url, target, 'rootfs.img', join(dir, 'rootfs.img'));
    expect(await readFile(join(dir, 'rootfs.img'))).toEqual(content);
  });

  it('stops a transfer slower than the floor (slow retrieval), installing nothing', async () => {
    const { url } = await serve((_start, response) => {
      response.writeHead(200, { 'content-length': content.byteLength });
      const drip = setInterval(() => response.write(content.subarray(0, 10)), 100);
      response.on('close', () => clearInterval(drip));
    });
    const dir = await mkdtemp(join(tmpdir(), 'uproll-slow-'));
    const started = Date.now();
    await expect(
      downloadVerified(url, target, 'rootfs.img', join(dir, 'rootfs.img'), {
        minBytesPerSecond: 1000,
        windowMs: 300,
      }),
    ).rejects.toThrowWithCode('SLOW_RETRIEVAL');
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await readdir(dir)).filter((f) => !f.endsWith('.part'))).toEqual([]);
  });

  it('never resumes from bytes that turned out not to be the target', async () => {
    const bad = Buffer.from(content);
    bad[10] = (bad[10] ?? 0) ^ 1;
    const { url } = await serve((_start, response) => {
      response.writeHead(200, { 'content-length': bad.byteLength });
      response.end(bad);
    });
    const dir = await mkdtemp(join(tmpdir(), 'uproll-bad-'));
    await expect(
      downloadVerified(url, target, 'rootfs.img', join(dir, 'rootfs.img')),
    ).rejects.toThrowWithCode('HASH_MISMATCH');
    expect(await readdir(dir)).toEqual([]);
  });
});
