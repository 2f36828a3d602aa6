import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { NO_CACHE, refreshRepository, TrustedRepository } from '../../core/tuf/index.ts';
import { KeyStore } from '../../keys/index.ts';
import { ImageRepository } from '../../services/image-repo/index.ts';

const ONLINE = 'online passphrase';
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
    const store = new KeyStore(await mkdtemp(join(tmpdir(), 'uproll-crash-keys-')));
    const repository = new ImageRepository(await mkdtemp(join(tmpdir(), 'uproll-crash-repo-')));
    const now = new Date();
    const gen = (role: string, online: boolean) =>
      store.generate({
        repository: 'image',
        role,
        online,
        passphrase: online ? ONLINE : 'offline passphrase',
        now,
      });
    const records = {
      root: await gen('root', false),
      targets: await gen('targets', false),
      releases: await gen('releases', true),
      snapshot: await gen('snapshot', true),
      timestamp: await gen('timestamp', true),
    };
    const signer = (role: keyof typeof records) =>
      store.signer(records[role].keyId, records[role].online ? ONLINE : 'offline passphrase');
    await repository.initialize(
      {
        root: [records.root.publicKey],
        rootThreshold: 1,
        targets: [records.targets.publicKey],
        releases: [records.releases.publicKey],
        snapshot: [records.snapshot.publicKey],
        timestamp: [records.timestamp.publicKey],
      },
      {
        root: [await signer('root')],
        targets: [await signer('targets')],
        releases: [await signer('releases')],
        snapshot: [await signer('snapshot')],
        timestamp: [await signer('timestamp')],
      },
      now,
    );
    const anchor = await readFile(join(repository.metadataDir, '1.root.json'));

    let previous = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      const child = spawn(process.execPath, ['test/helpers/publish-loop.ts', store.dir, repository.dir], {
        env: { ...process.env, UPROLL_TEST_ONLINE: ONLINE },
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
