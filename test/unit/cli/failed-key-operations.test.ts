import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { fileTree } from '../../helpers/file-tree.ts';
import { BOTH_PASSPHRASES, keyCli, OFFLINE_ENV, ONLINE_ENV } from '../../helpers/key-cli.ts';

/*
 * A key operation is all or nothing: one that fails (here on a wrong
 * passphrase) leaves the key store and both repositories exactly as they were.
 */

let cli: Awaited<ReturnType<typeof keyCli>>;
beforeEach(async () => {
  cli = await keyCli();
  expect((await cli.init()).status).toBe(0);
});

/** Everything a key operation could change: the key store (records, keys, audit trail) and both repositories. */
const everything = async () => ({
  keys: await fileTree(join(cli.stateDir, 'keys')),
  image: await fileTree(join(cli.stateDir, 'image-repo')),
  director: await fileTree(join(cli.stateDir, 'director')),
});

const wrong = (env: string) => {
  process.env[env] = 'a wrong passphrase';
};

describe('when a rotation is given a wrong passphrase', () => {
  describe.each([
    ['offline', OFFLINE_ENV],
    ['online', ONLINE_ENV],
  ])('(the %s one)', (_, env) => {
    it.each([
      ...['timestamp', 'snapshot', 'targets', 'releases'].map((role) => ['image', role]),
      ...['timestamp', 'snapshot', 'targets'].map((role) => ['director', role]),
    ])(
      'keys rotate --repository %s --role %s fails WRONG_PASSPHRASE and changes nothing',
      async (repository, role) => {
        const before = await everything();
        wrong(env);
        const failed = await cli.run(
          'keys',
          'rotate',
          '--repository',
          repository,
          '--role',
          role,
          ...BOTH_PASSPHRASES,
        );
        expect(failed).toMatchObject({
          status: 1,
          stderr: expect.stringMatching(/^uproll: WRONG_PASSPHRASE: /) as string,
        });
        expect(await everything()).toEqual(before);
      },
    );
  });

  it('later snapshots are signed by the snapshot key the root names, and by no other', async () => {
    wrong(OFFLINE_ENV);
    expect((await cli.run('keys', 'rotate', '--role', 'snapshot', ...BOTH_PASSPHRASES)).status).toBe(1);
    const artifact = join(cli.stateDir, 'app.bin');
    await writeFile(artifact, 'app');
    const published = await cli.run(
      'release',
      'publish',
      artifact,
      '--hardware-id',
      'rpi4',
      '--release-counter',
      '1',
      '--passphrase-env',
      ONLINE_ENV,
    );
    expect(published).toMatchObject({
      status: 0,
      stdout: 'published app.bin: releases v2, snapshot v2, timestamp v2',
    });
    const snapshot = JSON.parse(
      await readFile(join(cli.stateDir, 'image-repo', 'metadata', '2.snapshot.json'), 'utf8'),
    ) as {
      signatures: { keyid: string }[];
    };
    expect(snapshot.signatures.map((s) => s.keyid)).toEqual(
      (await cli.metadata('root.json')).roles['snapshot']?.keyids,
    );
  });
});

describe('when a revocation is given a wrong passphrase', () => {
  it.each([
    ['image', OFFLINE_ENV],
    ['image', ONLINE_ENV],
    ['director', OFFLINE_ENV],
    ['director', ONLINE_ENV],
  ])(
    'keys revoke of an %s timestamp key fails WRONG_PASSPHRASE (%s wrong) and changes nothing',
    async (repository, env) => {
      const timestamp = (await cli.keys()).find(
        (k) => k.repository === repository && k.role === 'timestamp',
      )!;
      const before = await everything();
      wrong(env);
      const failed = await cli.run('keys', 'revoke', timestamp.keyId, ...BOTH_PASSPHRASES);
      expect(failed).toMatchObject({
        status: 1,
        stderr: expect.stringMatching(/^uproll: WRONG_PASSPHRASE: /) as string,
      });
      expect(await everything()).toEqual(before);
    },
  );
});

describe('when a root ceremony would publish a root the keys at hand cannot sign for', () => {
  it('keys root publish fails SIGNERS_MISSING and changes nothing, instead of stranding devices', async () => {
    const keys = await cli.keys();
    const image = (role: string) => keys.filter((k) => k.repository === 'image' && k.role === role);
    const proposal = join(cli.stateDir, 'root-2.json');
    // The timestamp role moves to the snapshot key, but the store still signs timestamps with the timestamp key.
    const proposed = await cli.run(
      ...['keys', 'root', 'propose', '--out', proposal],
      ...['--remove', image('timestamp')[0]!.keyId.slice(0, 16)],
      ...['--add', `timestamp=${image('snapshot')[0]!.keyId.slice(0, 16)}`],
    );
    expect(proposed.status, proposed.stderr).toBe(0);
    for (const holder of image('root').slice(0, 2)) {
      const signed = await cli.run(
        'keys',
        'root',
        'sign',
        proposal,
        '--key',
        holder.keyId,
        '--passphrase-env',
        OFFLINE_ENV,
      );
      expect(signed.status, signed.stderr).toBe(0);
    }
    const before = await everything();
    const refused = await cli.run('keys', 'root', 'publish', proposal, '--passphrase-env', ONLINE_ENV);
    expect(refused).toMatchObject({
      status: 1,
      stderr:
        'uproll: SIGNERS_MISSING: root v2 needs 1 timestamp signatures by the keys it names; the keys at hand give 0',
    });
    expect(await everything()).toEqual(before);
  });
});
