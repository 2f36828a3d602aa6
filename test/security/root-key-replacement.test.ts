import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import type { KeyRecord } from '../../keys/index.ts';
import { keyCli, OFFLINE_ENV, ONLINE_ENV } from '../helpers/key-cli.ts';

/**
 * A root key holder leaves (or loses their key): the security team makes a
 * fresh root key and a ceremony swaps it in, signed by a threshold of the
 * current root keys and by the new one. Without `keys root new-key` a
 * ceremony could only remove root keys, never bring in a new one.
 */
describe.each(['image', 'director'] as const)('replacing a %s root key by a new one', (repository) => {
  let cli: Awaited<ReturnType<typeof keyCli>>;
  const by = ['--by', 'security-team'];
  const where = ['--repository', repository];

  beforeAll(async () => {
    cli = await keyCli();
    expect((await cli.init()).status).toBe(0);
  });
  afterAll(async () => rm(cli.stateDir, { recursive: true, force: true }));

  const rootKeys = async () =>
    (await cli.keys()).filter((k: KeyRecord) => k.repository === repository && k.role === 'root');
  const servedRootKeyIds = async () =>
    (await cli.metadata('2.root.json', repository === 'image' ? 'image-repo' : 'director')).roles['root']!
      .keyids;

  it('creates an offline key that signs nothing yet, then a ceremony replaces the old key with it', async () => {
    const [leaving, ...staying] = await rootKeys();
    const made = await cli.run(
      'keys',
      'root',
      'new-key',
      ...where,
      '--passphrase-env',
      OFFLINE_ENV,
      ...by,
      '--json',
    );
    expect(made.status).toBe(0);
    const fresh = JSON.parse(made.stdout) as KeyRecord;
    expect(fresh).toMatchObject({ repository, role: 'root', online: false });
    expect(made.stdout).not.toMatch(/PRIVATE KEY/);

    const proposal = `${cli.stateDir}/root-proposal.json`;
    const proposed = await cli.run(
      ...['keys', 'root', 'propose', ...where, '--out', proposal],
      ...['--add', `root=${fresh.keyId.slice(0, 8)}`, '--remove', leaving!.keyId.slice(0, 8)],
      ...by,
    );
    expect(proposed.stderr).not.toMatch(/uproll: /);
    expect(proposed.status).toBe(0);
    for (const signer of [...staying, fresh]) {
      const signed = await cli.run(
        ...['keys', 'root', 'sign', proposal, ...where, '--key', signer.keyId],
        ...['--passphrase-env', OFFLINE_ENV, ...by],
      );
      expect(signed.status).toBe(0);
    }
    const published = await cli.run(
      ...['keys', 'root', 'publish', proposal, ...where, '--passphrase-env', ONLINE_ENV, ...by],
    );
    expect(published.stderr).not.toMatch(/uproll: /);
    expect(published.status).toBe(0);

    const served = await servedRootKeyIds();
    expect(served).toContain(fresh.keyId);
    expect(served).not.toContain(leaving!.keyId);
  });

  it('refuses a key type it does not know, creating nothing', async () => {
    const before = (await rootKeys()).length;
    const made = await cli.run(
      'keys',
      'root',
      'new-key',
      ...where,
      '--key-type',
      'dsa',
      '--passphrase-env',
      OFFLINE_ENV,
      ...by,
    );
    expect(made.status).toBe(2);
    expect(await rootKeys()).toHaveLength(before);
  });
});
