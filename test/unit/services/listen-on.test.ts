import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startRepositoryServer } from '../../../services/image-repo/index.ts';

describe('a server started on a port another one holds', () => {
  it('fails with PORT_IN_USE naming the port and what needed it, not INTERNAL_ERROR', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uproll-listen-'));
    const first = await startRepositoryServer({ dir });
    const port = Number(new URL(first.url).port);
    try {
      const second = startRepositoryServer({ dir, port, areas: ['devices'] });
      await expect(second).rejects.toThrowWithCode('PORT_IN_USE');
      await expect(second).rejects.toThrow(`port ${port} on 127.0.0.1 (the Director) is already in use`);
    } finally {
      await first.close();
    }
  });
});
