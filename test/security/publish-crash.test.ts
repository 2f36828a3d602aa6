import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { NO_CACHE, refreshRepository, TrustedRepository } from '../../core/tuf/index.ts';
import type { ImageRepository } from '../../services/image-repo/index.ts';
import { newKeyStoreImageRepository, TEST_PASSPHRASES } from '../helpers/image-repository.ts';

const KILLS = 8;

/** Reads the repository the way a client would, straight from its served files. */
async function clientView(repository: ImageRepository, anchor: Uint8Array) {
  const client = new TrustedRepository(anchor, { name: 'image' });
  const fetch = (file: string, max: number) =>
    readFile(join(repository.metadataDir, file)).then(
      (b) => b.subarray(0, max + 1),
      () => undefined,
    );
  await refreshRepository(client, fetch, NO_CACHE, new Date());
  return client;
}

describe('publishing under SIGKILL', () => {
  it('leaves the repository serving a consistent state at every kill, and publishing goes on after', async () => {
    const { store, repository } = await newKeyStoreImageRepository(new Date());
    const anchor = await readFile(join(repository.metadataDir, '1.root.json'));

    let previous = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      const child = spawn(process.execPath, ['test/helpers/publish-loop.ts', store.dir, repository.dir], {
        env: { ...process.env, UPROLL_TEST_ONLINE: TEST_PASSPHRASES.online },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await once(createInterface({ input: child.stdout }), 'line'); // keys loaded, publishing
      await sleep(20 + Math.floor(Math.random() * 120));
      child.kill('SIGKILL');
      await once(child, 'exit');

      const client = await clientView(repository, anchor); // throws if the served state is inconsistent
      const released = Object.keys(client.snapshot?.signed.meta ?? {}).sort();
      expect(released).toEqual(['releases.json', 'targets.json']);
      const versions = await repository.versions();
      expect(versions.timestamp).toBeGreaterThanOrEqual(previous);
      previous = versions.timestamp;
    }
    expect(previous).toBeGreaterThan(1); // the loops did publish between kills
  });
});
