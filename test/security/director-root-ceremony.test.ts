import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ceremonyStatus, KeyStore, proposeRoot, signRootProposal } from '../../keys/index.ts';
import { telemetryOf } from '../helpers/agent-rig.ts';
import { startDirectorDevice } from '../helpers/director-device.ts';
import { BOTH_PASSPHRASES, OFFLINE_ENV, ONLINE_ENV } from '../helpers/key-cli.ts';

/*
 * The offline root ceremony of the Director, run with the CLI as for the
 * Image repository: propose Director root v2 without one of the root keys,
 * sign it holder by holder, publish. The device follows the Director's root
 * chain to v2, and from then on refuses a root signed by the removed key.
 * Root v1 needs 1 of 3 root keys here, so the removed key alone would have
 * been enough for a device still on v1: only the chain to v2 protects it.
 */

const DEVICE = 'dev-ceremony';
const DAY = 24 * 60 * 60 * 1000;
let rig: Awaited<ReturnType<typeof startDirectorDevice>>;
let cli: typeof rig.cli;
let manager: typeof rig.manager;

beforeEach(async () => {
  rig = await startDirectorDevice(DEVICE, ['--root-keys', '3', '--threshold', '1']);
  ({ cli, manager } = rig);
});
afterEach(async () => rig.close());

const releaseAndAssign = (revision: string) => rig.releaseAndAssign(revision);

/** The device updates to the revision assigned last; its last telemetry. */
async function update(revision: string) {
  const rolloutId = `r-${revision}`;
  await manager.accept({ rolloutId, revision });
  await manager.idle();
  return (await telemetryOf(manager, rolloutId)).at(-1);
}

const report = () => rig.report();
const trustedDirectorRoot = () => rig.trustedDirectorRoot();

const directorRoots = async () =>
  (await cli.keys()).filter((k) => k.repository === 'director' && k.role === 'root');
const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );

/** The audit events the state directory's outbox holds (no stack runs here), as `type aggregateId by`. */
async function auditTrail() {
  const text = await readFile(join(cli.stateDir, 'audit-outbox.jsonl'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const { event } = JSON.parse(line) as {
        event: { type: string; aggregateId: string; data: { by: string } };
      };
      return `${event.type} ${event.aggregateId} ${event.data.by}`;
    });
}

describe('when the Director root changes through the ceremony', () => {
  it('the device follows the chain to v2, then refuses a root signed only by the removed key', async () => {
    await releaseAndAssign('1.0');
    expect(await update('1.0')).toMatchObject({ phase: 'committed' });
    const [removed, ...staying] = await directorRoots();
    const proposal = join(cli.stateDir, 'director-root-2.json');
    const ceremony = (...argv: string[]) => cli.run('keys', 'root', ...argv, '--repository', 'director');

    // A root key in the served root cannot just be revoked: it leaves through the ceremony first.
    const early = await cli.run('keys', 'revoke', removed!.keyId.slice(0, 16), ...BOTH_PASSPHRASES);
    expect(early.stderr).toMatch(
      /^uproll: INVALID_INPUT: Director root key [0-9a-f]{16} is in the current root/,
    );
    const proposed = await ceremony(
      ...['propose', '--out', proposal, '--remove', removed!.keyId.slice(0, 16), '--threshold', 'root=2'],
    );
    expect(proposed).toMatchObject({
      status: 0,
      stdout: `wrote director root v2 proposal to ${proposal}; it needs 1 signatures of the current root keys and 2 of its own`,
    });
    for (const [i, holder] of staying.entries()) {
      expect((await ceremony('status', proposal)).status).toBe(3);
      // Not complete yet: nothing is published, the Director still serves root v1.
      if (i === 1) {
        const early = await ceremony('publish', proposal, '--passphrase-env', ONLINE_ENV);
        expect(early.stderr).toMatch(/^uproll: CEREMONY_INCOMPLETE: Director root v2 has 1 of 1 .* 1 of 2/);
        expect(await exists(join(cli.stateDir, 'director', 'root', '2.root.json'))).toBe(false);
      }
      const signed = await ceremony(
        ...['sign', proposal, '--key', holder.keyId.slice(0, 16), '--passphrase-env', OFFLINE_ENV],
      );
      expect(signed.status, signed.stderr).toBe(0);
    }
    expect(await ceremony('status', proposal)).toMatchObject({
      status: 0,
      stdout: 'director root v2: 2/1 of the current root keys, 2/2 of its own — ready to publish',
    });
    const published = await ceremony('publish', proposal, '--passphrase-env', ONLINE_ENV);
    expect(published).toMatchObject({ status: 0, stdout: 'published director root v2' });
    const root = await cli.metadata('2.root.json', 'director');
    expect(root.roles['root']?.keyids.sort()).toEqual(staying.map((k) => k.keyId).sort());
    // Someone copies the removed key while it still opens; out of the root now, it is revoked for good.
    const store = new KeyStore(join(cli.stateDir, 'keys'), { clock: () => new Date() });
    const stolen = await store.signer(removed!.keyId, 'offline passphrase');
    const revoked = await cli.run(
      'keys',
      'revoke',
      removed!.keyId.slice(0, 16),
      '--reason',
      'left root v2',
      ...BOTH_PASSPHRASES,
    );
    expect(revoked).toMatchObject({ status: 0, stdout: `revoked ${removed!.keyId} (root): left root v2` });
    expect(await auditTrail()).toEqual(
      expect.arrayContaining([
        'repository.root.proposed director uproll-tests',
        'repository.root.signed director uproll-tests',
        'repository.root.published director uproll-tests',
      ]),
    );

    // The next assignment carries root v2 (the Director re-signed the device's metadata with it).
    await releaseAndAssign('2.0');
    expect(await update('2.0')).toMatchObject({ phase: 'committed' });
    expect(await trustedDirectorRoot()).toBe(2);
    await report();
    expect(await cli.run('keys', 'trusted-by', removed!.keyId.slice(0, 16))).toMatchObject({
      status: 0,
      stdout: expect.stringMatching(/director root v2 +no longer trusts it/) as string,
    });

    // Whoever still holds the removed key serves a root v3 that gives it every role again.
    await releaseAndAssign('3.0');
    // The key store refuses the revoked key now; the copy taken before signs all the same.
    await expect(store.signer(removed!.keyId, 'offline passphrase')).rejects.toThrowWithCode('KEY_REVOKED');
    const current = await readFile(join(cli.stateDir, 'director', 'root', '2.root.json'));
    const forged = await signRootProposal(
      await proposeRoot(current, {
        replace: { root: [removed!.publicKey] },
        threshold: { root: 1 },
        expires: new Date(Date.now() + 365 * DAY),
      }),
      stolen,
    );
    expect(ceremonyStatus(current, forged)).toMatchObject({
      byCurrentRoot: { have: 0, need: 2 },
      byProposedRoot: { have: 1, need: 1 },
    });
    await writeFile(join(cli.stateDir, 'director', 'devices', DEVICE, 'metadata', '3.root.json'), forged);
    expect(await update('3.0')).toMatchObject({ phase: 'failed', error: { code: 'THRESHOLD_NOT_MET' } });
    expect(await trustedDirectorRoot()).toBe(2);
    expect(await manager.boot.read()).toMatchObject({ active: { revision: '2.0' } });
  });
});

describe('when a Director root proposal names keys it cannot', () => {
  it.each([
    [
      '--remove an id no key has',
      ['--remove', '0123456789abcdef'],
      /^uproll: UNKNOWN_KEY: no key 0123456789abcdef in root v1$/,
    ],
    [
      '--remove an Image root key',
      async () => [
        '--remove',
        (await cli.keys()).find((k) => k.repository === 'image' && k.role === 'root')!.keyId.slice(0, 16),
      ],
      /^uproll: UNKNOWN_KEY: no key [0-9a-f]{16} in root v1$/,
    ],
    [
      '--add an Image key',
      async () => [
        '--add',
        `timestamp=${(await cli.keys()).find((k) => k.repository === 'image' && k.role === 'timestamp')!.keyId.slice(0, 16)}`,
      ],
      /^uproll: INVALID_INPUT: key [0-9a-f]{16} belongs to the image keys, not the director's$/,
    ],
  ] as const)('refuses %s and writes no proposal', async (_, args, message) => {
    const proposal = join(cli.stateDir, 'director-root-2.json');
    const options = typeof args === 'function' ? await args() : args;
    const refused = await cli.run(
      ...['keys', 'root', 'propose', '--repository', 'director', '--out', proposal, ...options],
    );
    expect(refused.status).toBe(1);
    expect(refused.stderr.trim()).toMatch(message);
    expect(await exists(proposal)).toBe(false);
  });
});

describe('when a complete Director root proposal is published with a wrong online passphrase', () => {
  it('fails before anything is written: the Director and its devices still serve root v1', async () => {
    const [holder] = await directorRoots();
    const proposal = join(cli.stateDir, 'director-root-2.json');
    const ceremony = (...argv: string[]) => cli.run('keys', 'root', ...argv, '--repository', 'director');
    expect((await ceremony('propose', '--out', proposal)).status).toBe(0);
    const signed = await ceremony(
      ...['sign', proposal, '--key', holder!.keyId.slice(0, 16), '--passphrase-env', OFFLINE_ENV],
    );
    expect(signed.status, signed.stderr).toBe(0);
    expect((await ceremony('status', proposal)).status).toBe(0);

    process.env['TEST_WRONG_PASSPHRASE'] = 'not the online passphrase';
    const published = await ceremony('publish', proposal, '--passphrase-env', 'TEST_WRONG_PASSPHRASE');
    expect(published.status).toBe(1);
    expect(published.stderr).toMatch(/^uproll: WRONG_PASSPHRASE: /);
    expect(await exists(join(cli.stateDir, 'director', 'root', '2.root.json'))).toBe(false);
    expect(await exists(join(cli.stateDir, 'director', 'devices', DEVICE, 'metadata', '2.root.json'))).toBe(
      false,
    );
  });
});
