import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { telemetryOf } from '../helpers/agent-rig.ts';
import { startDirectorDevice } from '../helpers/director-device.ts';
import { BOTH_PASSPHRASES } from '../helpers/key-cli.ts';

/*
 * A Director key rotated (or revoked) while the rollout worker runs: the
 * worker's next assignment is signed with the new key, and the device
 * verifies it, having followed the Director's root chain to the root that
 * names that key. The key store and repositories are the CLI's; the worker's
 * signing is the worker command's own (workerKeyServices), started once.
 */

const DEVICE = 'dev-rot';
let rig: Awaited<ReturnType<typeof startDirectorDevice>>;
let cli: typeof rig.cli;
let manager: typeof rig.manager;

beforeEach(async () => {
  rig = await startDirectorDevice(DEVICE);
  ({ cli, manager } = rig);
});
afterEach(async () => rig.close());

/** Releases a revision, has the running worker's Director assign it, and lets the device update to it. */
async function rollOut(revision: string) {
  const rolloutId = await rig.releaseAndAssign(revision);
  await manager.accept({ rolloutId, revision });
  await manager.idle();
  return (await telemetryOf(manager, rolloutId)).at(-1);
}

/** Key ids that signed the device's Director timestamp and snapshot as served now. */
async function directorSignatures() {
  const metadata = join(cli.stateDir, 'director', 'devices', DEVICE, 'metadata');
  const signers = (envelope: string) =>
    (JSON.parse(envelope) as { signatures: { keyid: string }[] }).signatures.map((s) => s.keyid);
  const timestamp = await readFile(join(metadata, 'timestamp.json'), 'utf8');
  const { version } = (JSON.parse(timestamp) as { signed: { meta: Record<string, { version: number }> } })
    .signed.meta['snapshot.json']!;
  return {
    timestamp: signers(timestamp),
    snapshot: signers(await readFile(join(metadata, `${version}.snapshot.json`), 'utf8')),
  };
}

const report = () => rig.report();
const trustedDirectorRoot = () => rig.trustedDirectorRoot();

const directorKey = async (role: string) =>
  (await cli.keys()).find((k) => k.repository === 'director' && k.role === role && !k.revoked)!;

describe('when a Director key is rotated while the worker assigns releases', () => {
  it('the next assignment is signed with the new key, and the device verifies it through Director root v2', async () => {
    expect(await rollOut('1.0')).toMatchObject({ phase: 'committed' });
    const old = await directorKey('timestamp');

    const rotated = await cli.run(
      'keys',
      'rotate',
      '--repository',
      'director',
      '--role',
      'timestamp',
      ...BOTH_PASSPHRASES,
      '--json',
    );
    expect(rotated.status, rotated.stderr).toBe(0);
    const { added, root } = JSON.parse(rotated.stdout) as { added: { keyId: string }; root: number };
    expect(root).toBe(2);
    expect((await cli.metadata('2.root.json', 'director')).roles['timestamp']?.keyids).toEqual([added.keyId]);
    expect((await cli.keys()).find((k) => k.keyId === old.keyId)?.revoked?.reason).toBe('rotated');

    await report(); // of 1.0: the device still trusts Director root v1, which names the old key
    const exposed = await cli.run('keys', 'trusted-by', old.keyId.slice(0, 16));
    expect(exposed).toMatchObject({ status: 3, stdout: expect.stringContaining(`${DEVICE}`) as string });
    expect(exposed.stdout).toMatch(/director root v1 +still trusts the key/);

    expect(await rollOut('2.0')).toMatchObject({ phase: 'committed' });
    expect((await directorSignatures()).timestamp).toEqual([added.keyId]);
    expect(await trustedDirectorRoot()).toBe(2);
    await report();
    expect(await cli.run('keys', 'trusted-by', old.keyId.slice(0, 16))).toMatchObject({
      status: 0,
      stdout: expect.stringMatching(/director root v2 +no longer trusts it/) as string,
    });
  });
});

describe('when a Director key is revoked while the worker assigns releases', () => {
  it('keys revoke rotates it out first: the device keeps updating, and no metadata names or carries the key', async () => {
    expect(await rollOut('1.0')).toMatchObject({ phase: 'committed' });
    const snapshot = await directorKey('snapshot');

    const revoked = await cli.run(
      'keys',
      'revoke',
      snapshot.keyId.slice(0, 16),
      '--reason',
      'leaked',
      ...BOTH_PASSPHRASES,
    );
    expect(revoked).toMatchObject({ status: 0, stdout: `revoked ${snapshot.keyId} (snapshot): leaked` });
    expect((await cli.metadata('2.root.json', 'director')).roles['snapshot']?.keyids).not.toContain(
      snapshot.keyId,
    );

    expect(await rollOut('2.0')).toMatchObject({ phase: 'committed' });
    expect((await directorSignatures()).snapshot).toEqual([(await directorKey('snapshot')).keyId]);
    expect(await trustedDirectorRoot()).toBe(2);
  });
});
