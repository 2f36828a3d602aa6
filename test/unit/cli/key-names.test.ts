import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { BOTH_PASSPHRASES, keyCli, OFFLINE_ENV, ONLINE_ENV } from '../../helpers/key-cli.ts';

let cli: Awaited<ReturnType<typeof keyCli>>;
beforeEach(async () => {
  cli = await keyCli();
  expect((await cli.init()).status).toBe(0);
});

/** The first 16 hex digits of a key id: what `keys list` prints. */
const listed = (keyId: string) => keyId.slice(0, 16);
const imageKeys = async (role: string) =>
  (await cli.keys()).filter((k) => k.repository === 'image' && k.role === role);
const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );

describe('when a root ceremony removes a key named as keys list prints it', () => {
  it('root v2 no longer names the key once published', async () => {
    const [leaving, ...staying] = await imageKeys('root');
    const proposal = join(cli.stateDir, 'root-2.json');
    const proposed = await cli.run(
      'keys',
      'root',
      'propose',
      '--out',
      proposal,
      '--remove',
      listed(leaving!.keyId),
    );
    expect(proposed.status, proposed.stderr).toBe(0);
    for (const holder of staying) {
      const signed = await cli.run(
        'keys',
        'root',
        'sign',
        proposal,
        '--key',
        listed(holder.keyId),
        '--passphrase-env',
        OFFLINE_ENV,
      );
      expect(signed).toMatchObject({ status: 0, stdout: `signed ${proposal} with ${listed(holder.keyId)}` });
    }
    const published = await cli.run('keys', 'root', 'publish', proposal, '--passphrase-env', ONLINE_ENV);
    expect(published).toMatchObject({ status: 0, stdout: 'published root v2' });
    const root = await cli.metadata('root.json');
    expect(root.version).toBe(2);
    expect(root.roles['root']?.keyids.sort()).toEqual(staying.map((k) => k.keyId).sort());
    // Out of the root, the key can be revoked in the key store; one still in it cannot.
    const revoked = await cli.run('keys', 'revoke', listed(leaving!.keyId), ...BOTH_PASSPHRASES);
    expect(revoked).toMatchObject({ status: 0, stdout: `revoked ${leaving!.keyId} (root): revoked` });
    const [inRoot] = staying;
    const refused = await cli.run('keys', 'revoke', listed(inRoot!.keyId), ...BOTH_PASSPHRASES);
    expect(refused.stderr).toMatch(/^uproll: INVALID_INPUT: root key [0-9a-f]{16} is in the current root/);
  });
});

describe('when a root ceremony is asked to remove a key the current root does not name', () => {
  it.each([
    [
      'a key of the store outside the root (the fleet CA key)',
      async () => (await cli.keys()).find((k) => k.role === 'ca')!.keyId,
    ],
    ['an id no key has', () => Promise.resolve('0123456789abcdef')],
  ])('refuses %s with UNKNOWN_KEY and writes no proposal', async (_, keyId) => {
    const proposal = join(cli.stateDir, 'root-2.json');
    const refused = await cli.run(
      'keys',
      'root',
      'propose',
      '--out',
      proposal,
      '--remove',
      listed(await keyId()),
    );
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^uproll: UNKNOWN_KEY: no key [0-9a-f]{16} in root v1$/);
    expect(await exists(proposal)).toBe(false);
  });
});

describe('when a command names a key', () => {
  it('revoke takes the 16 digits keys list prints', async () => {
    const [timestamp] = await imageKeys('timestamp');
    const revoked = await cli.run('keys', 'revoke', listed(timestamp!.keyId), ...BOTH_PASSPHRASES);
    expect(revoked).toMatchObject({ status: 0, stdout: `revoked ${timestamp!.keyId} (timestamp): revoked` });
  });

  it('root propose --add takes a prefix of 8 hex digits', async () => {
    const [targets] = await imageKeys('targets');
    const proposal = join(cli.stateDir, 'root-2.json');
    const proposed = await cli.run(
      'keys',
      'root',
      'propose',
      '--out',
      proposal,
      '--add',
      `snapshot=${targets!.keyId.slice(0, 8)}`,
    );
    expect(proposed.status, proposed.stderr).toBe(0);
  });

  it('trusted-by takes a prefix and the key store location', async () => {
    const [timestamp] = await imageKeys('timestamp');
    const answered = await cli.run(
      'keys',
      'trusted-by',
      listed(timestamp!.keyId),
      '--keystore',
      join(cli.stateDir, 'keys'),
    );
    expect(answered).toMatchObject({
      status: 0,
      stdout: `0 of 0 devices may still trust ${listed(timestamp!.keyId)}`,
    });
  });

  it.each([
    ['keys', 'revoke'],
    ['keys', 'trusted-by'],
  ])('%s %s refuses an unknown key with UNKNOWN_KEY', async (...command) => {
    const refused = await cli.run(
      ...command,
      'feedfacefeedface',
      ...(command[1] === 'revoke' ? BOTH_PASSPHRASES : []),
    );
    expect(refused).toMatchObject({
      status: 1,
      stderr: expect.stringMatching(/^uproll: UNKNOWN_KEY: no key feedfacefeedface in /) as string,
    });
  });

  it('refuses a prefix shorter than 8 hex digits, which could name many keys', async () => {
    const [timestamp] = await imageKeys('timestamp');
    const refused = await cli.run('keys', 'revoke', timestamp!.keyId.slice(0, 7), ...BOTH_PASSPHRASES);
    expect(refused).toMatchObject({
      status: 1,
      stderr: expect.stringMatching(/^uproll: INVALID_INPUT: .* at least 8 hex digits/) as string,
    });
    expect((await imageKeys('timestamp')).every((k) => !k.revoked)).toBe(true);
  });
});
