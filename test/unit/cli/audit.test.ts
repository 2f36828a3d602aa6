import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BOTH_PASSPHRASES, keyCli, ONLINE_ENV } from '../../helpers/key-cli.ts';

/** The events the state directory's outbox holds, as `type by: summary`. */
async function outboxOf(stateDir: string): Promise<string[]> {
  const text = await readFile(join(stateDir, 'audit-outbox.jsonl'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map(
      (line) =>
        JSON.parse(line) as {
          event: { aggregateId: string; type: string; data: { by: string; summary: string } };
        },
    )
    .map(({ event }) => `${event.aggregateId} ${event.type} by ${event.data.by}: ${event.data.summary}`);
}

const testBy = process.env['UPROLL_BY'];
afterEach(() => {
  process.env['UPROLL_BY'] = testBy;
});

describe('the audit trail of what operators do', () => {
  it('refuses a change whose author is not named, before changing anything', async () => {
    delete process.env['UPROLL_BY'];
    const cli = await keyCli();
    const refused = await cli.init();
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('--by NAME is required (or $UPROLL_BY)');
    expect(await readdir(cli.stateDir)).toEqual([]);
  });

  it('records key creation, rotation, revocation, revisions and provisioning with who did them', async () => {
    const cli = await keyCli();
    expect((await cli.run('keys', 'init', ...BOTH_PASSPHRASES, '--by', 'sec-alice')).status).toBe(0);
    const rotated = await cli.run(
      'keys',
      'rotate',
      '--role',
      'timestamp',
      ...BOTH_PASSPHRASES,
      '--by',
      'sec-bob',
    );
    expect(rotated.status, rotated.stderr).toBe(0);
    // Offline (no local stack): the event waits in the outbox, and the command says so.
    expect(rotated.stderr).toContain('audit: repository.key.rotated kept in');
    const snapshot = (await cli.keys()).find((k) => k.role === 'snapshot' && k.repository === 'director')!;
    const revoked = await cli.run(
      'keys',
      'revoke',
      snapshot.keyId.slice(0, 12),
      ...BOTH_PASSPHRASES,
      '--by',
      'sec-bob',
    );
    expect(revoked.status, revoked.stderr).toBe(0);
    await writeFile(join(cli.stateDir, 'app.bin'), 'app 1');
    const revision = await cli.run(
      ...['release', 'revision', 'app-1.0', `app=${join(cli.stateDir, 'app.bin')}`, '--hardware-id', 'rpi4'],
      ...['--release-counter', '1', '--passphrase-env', ONLINE_ENV, '--by', 'rm-carol'],
    );
    expect(revision.status, revision.stderr).toBe(0);
    const provisioned = await cli.run(
      ...['devices', 'provision', 'dev-1', '--hardware-id', 'rpi4', '--no-nats'],
      ...['--passphrase-env', ONLINE_ENV, '--by', 'maker-dan'],
    );
    expect(provisioned.status, provisioned.stderr).toBe(0);

    const events = await outboxOf(cli.stateDir);
    expect(events).toEqual([
      expect.stringMatching(
        /^image repository\.keys\.created by sec-alice: root v1 \(2 of 3 root keys\); keys root /,
      ),
      expect.stringMatching(/^director repository\.keys\.created by sec-alice: /),
      expect.stringMatching(
        /^image repository\.key\.rotated by sec-bob: timestamp key [0-9a-f]{16} replaced by [0-9a-f]{16}, root v2$/,
      ),
      `director repository.key.revoked by sec-bob: snapshot key ${snapshot.keyId.slice(0, 16)} revoked: revoked`,
      'image repository.revision.published by rm-carol: revision app-1.0 (1 artifacts, counter 1) as revisions/app-1.0.json',
      'dev-1 device.provisioned by maker-dan: provisioned (rpi4)',
    ]);
  });
});
