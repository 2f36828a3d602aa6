import { ImageRepository, revokeImageKey, rotateImageRole } from '../../services/image-repo/index.ts';
import {
  DirectorRepository,
  devicesTrustingKey,
  revokeDirectorKey,
  rotateDirectorRole,
  type DirectorOnlineRole,
} from '../../services/director/index.ts';
import { UprollError } from '../../core/index.ts';
import { UsageError, type Command } from '../command.ts';
import { passphraseOptions, readPassphrase } from '../passphrase.ts';
import { directorDir, imageRepoDir, locationOptions, openKeyStore } from '../locations.ts';
import { actorOf, byOption, recordAudit } from '../audit.ts';

/** Help shared by every command that names a key. */
export const KEYID_HELP =
  'A KEYID is a key id or a unique prefix of it, at least 8 hex digits (what keys list prints).';
const bothPassphrases = {
  ...passphraseOptions('offline-', 'offline key'),
  ...passphraseOptions('online-', 'online key'),
};

async function passphrases(values: Record<string, unknown>) {
  return {
    offline: await readPassphrase(values, 'offline-', 'offline key'),
    online: await readPassphrase(values, 'online-', 'online key'),
  };
}

const ROTATABLE = {
  image: ['timestamp', 'snapshot', 'targets', 'releases'],
  director: ['timestamp', 'snapshot', 'targets'],
} as const;

export const keysRotate: Command = {
  name: 'keys rotate',
  summary: 'Replace the key of a role of the Image repository or the Director and re-sign what it signed.',
  usage:
    'uproll keys rotate [--repository image|director] --role timestamp|snapshot|targets|releases [--json]',
  details:
    'Image timestamp, snapshot and targets keys, and every Director key, change through a new root signed by\n' +
    "the root keys of this key store; the Director also re-signs every device's metadata with the new key.\n" +
    'The replaced key is revoked. A rotation that fails changes nothing.',
  options: {
    ...locationOptions,
    repository: { type: 'string', description: 'image (default) or director' },
    role: { type: 'string', description: 'the role whose key is replaced' },
    ...bothPassphrases,
    ...byOption,
  },
  async run({ values }, io) {
    const by = actorOf(values);
    const repository = values['repository'] ?? 'image';
    if (repository !== 'image' && repository !== 'director')
      throw new UsageError('--repository must be image or director');
    const roles: readonly string[] = ROTATABLE[repository];
    const role = values['role'];
    if (typeof role !== 'string' || !roles.includes(role))
      throw new UsageError(`--role of the ${repository} must be ${roles.join(', ')}`);
    const store = openKeyStore(values);
    const result =
      repository === 'image'
        ? await rotateImageRole(
            store,
            new ImageRepository(imageRepoDir(values)),
            role as (typeof ROTATABLE)['image'][number],
            await passphrases(values),
            new Date(),
          ).then((r) => ({ ...r, root: r.versions.root }))
        : await rotateDirectorRole(
            store,
            new DirectorRepository(directorDir(values)),
            role as DirectorOnlineRole,
            await passphrases(values),
            new Date(),
          );
    await recordAudit(values, io, by, {
      aggregate: 'repository',
      aggregateId: repository,
      type: 'repository.key.rotated',
      data: {
        summary: `${role} key ${result.revoked.map((r) => r.keyId.slice(0, 16)).join(', ') || 'none'} replaced by ${result.added.keyId.slice(0, 16)}, root v${result.root}`,
        role,
        keyId: result.added.keyId,
        revoked: result.revoked.map((r) => r.keyId),
      },
    });
    if (values.json) io.out(JSON.stringify(result));
    else
      io.out(
        `${repository} ${role} key is now ${result.added.keyId.slice(0, 16)}; revoked ${result.revoked.map((r) => r.keyId.slice(0, 16)).join(', ') || 'none'}; ${repository} root v${result.root}`,
      );
    return 0;
  },
};

export const keysRevoke: Command = {
  name: 'keys revoke',
  summary:
    'Revoke a key after a compromise: it is rotated out of its role (Image or Director), then can never sign again.',
  usage: 'uproll keys revoke KEYID [--reason TEXT] [--json]',
  details: KEYID_HELP,
  options: {
    ...locationOptions,
    reason: { type: 'string', description: 'why (kept in the key record)' },
    ...bothPassphrases,
    ...byOption,
  },
  async run({ values, positionals }, io) {
    const by = actorOf(values);
    const [keyId] = positionals;
    if (!keyId) throw new UsageError('name the KEYID to revoke');
    const store = openKeyStore(values);
    const reason = typeof values['reason'] === 'string' ? values['reason'] : 'revoked';
    // A key still in a role is first rotated out of it, in its own repository.
    const record =
      (await store.get(keyId)).repository === 'director'
        ? await revokeDirectorKey(
            store,
            new DirectorRepository(directorDir(values)),
            keyId,
            reason,
            await passphrases(values),
            new Date(),
          )
        : await revokeImageKey(
            store,
            new ImageRepository(imageRepoDir(values)),
            keyId,
            reason,
            await passphrases(values),
            new Date(),
          );
    await recordAudit(values, io, by, {
      aggregate: 'repository',
      aggregateId: record.repository,
      type: 'repository.key.revoked',
      data: {
        summary: `${record.role} key ${record.keyId.slice(0, 16)} revoked: ${reason}`,
        keyId: record.keyId,
        role: record.role,
        reason,
      },
    });
    io.out(
      values.json
        ? JSON.stringify(record)
        : `revoked ${record.keyId} (${record.role}): ${record.revoked?.reason ?? ''}`,
    );
    return 0;
  },
};

export const keysTrustedBy: Command = {
  name: 'keys trusted-by',
  summary: 'After a revocation: which devices may still trust a key, from their last signed reports.',
  usage: 'uproll keys trusted-by KEYID [--json]',
  details: `Exits 0 when no device trusts the key any more, 3 when some still do (or never reported).\n${KEYID_HELP}`,
  options: { ...locationOptions },
  async run({ values, positionals }, io) {
    const [name] = positionals;
    if (!name) throw new UsageError('name the KEYID');
    const { keyId, repository } = await openKeyStore(values).get(name);
    if (repository === 'fleet')
      throw new UprollError('INVALID_INPUT', `key ${keyId} is in no root: devices never trust it`);
    const exposures = await devicesTrustingKey(
      keyId,
      new DirectorRepository(directorDir(values)),
      new ImageRepository(imageRepoDir(values)),
      repository,
    );
    const trusting = exposures.filter((e) => e.trustsKey);
    if (values.json) io.out(JSON.stringify(exposures));
    else {
      for (const e of exposures)
        io.out(
          `${e.deviceId.padEnd(24)} ${e.repository} root v${e.root ?? '?'}  ${e.trustsKey ? 'still trusts the key' : 'no longer trusts it'}`,
        );
      io.out(`${trusting.length} of ${exposures.length} devices may still trust ${keyId.slice(0, 16)}`);
    }
    return trusting.length === 0 ? 0 : 3;
  },
};
