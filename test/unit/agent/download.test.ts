import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { downloadArtifact } from '../../../agent/index.ts';
import type { Artifact } from '../../../core/index.ts';

const content = randomBytes(100_000);
let server: Server;
let base: string;
let dir: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    if (request.url === '/endless') {
      // Sends forever (until the client hangs up): an endless-data attack.
      response.writeHead(200);
      const pump = () => {
        while (response.write(randomBytes(64 * 1024)));
      };
      response.on('drain', pump);
      pump();
      return;
    }
    if (request.url === '/missing') return void response.writeHead(404).end();
    response.writeHead(200).end(content);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uproll-dl-'));
});

function artifact(path: string, overrides: Partial<Artifact> = {}): Artifact {
  return {
    name: 'rootfs.img',
    url: `${base}${path}`,
    sha256: createHash('sha256').update(content).digest('hex'),
    length: content.byteLength,
    ...overrides,
  };
}

describe('downloadArtifact', () => {
  it('keeps bytes with exactly the expected length and sha256', async () => {
    const destination = join(dir, 'rootfs.img');
    expect(await downloadArtifact(artifact('/good'), destination)).toEqual({
      bytes: content.byteLength,
      fetched: content.byteLength,
    });
    expect(await readFile(destination)).toEqual(content);
  });

  describe('when the bytes are not the ones the command names', () => {
    it.each([
      ['another sha256', { sha256: 'f'.repeat(64) }, 'HASH_MISMATCH'],
      ['a shorter length', { length: content.byteLength - 1 }, 'ENDLESS_DATA'],
      ['a longer length', { length: content.byteLength + 1 }, 'LENGTH_MISMATCH'],
    ] as const)('fails on %s and leaves no file behind', async (_what, overrides, code) => {
      await expect(
        downloadArtifact(artifact('/good', overrides), join(dir, 'rootfs.img')),
      ).rejects.toThrowWithCode(code);
      expect(await readdir(dir)).toEqual([]);
    });
  });

  describe('when the server never stops sending', () => {
    it('stops reading at the expected length', async () => {
      await expect(downloadArtifact(artifact('/endless'), join(dir, 'rootfs.img'))).rejects.toThrowWithCode(
        'ENDLESS_DATA',
      );
      expect(await readdir(dir)).toEqual([]);
    });
  });

  describe('when the server cannot deliver', () => {
    it.each([
      ['an HTTP error', '/missing', base],
      ['a refused connection', '/good', 'http://127.0.0.1:1'],
    ])('fails with DOWNLOAD_FAILED on %s', async (_what, path, origin) => {
      const url = `${origin}${path}`;
      await expect(downloadArtifact({ ...artifact(path), url }, join(dir, 'x'))).rejects.toThrowWithCode(
        'DOWNLOAD_FAILED',
      );
    });
  });
});
