import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ceremonyStatus,
  proposeRoot,
  roleSigners,
  signRootProposal,
  type KeyStore,
} from '../../keys/index.ts';
import { ImageRepository, revokeImageKey, rotateImageRole } from '../../services/image-repo/index.ts';
import {
  DirectorRepository,
  devicesTrustingKey,
  revokeDirectorKey,
  rotateDirectorRole,
  type DirectorOnlineRole,
} from '../../services/director/index.ts';
import { UprollError } from '../../core/index.ts';
import { writeFileAtomic } from '../../services/fs/index.ts';
import { UsageError, type Command } from '../command.ts';
import { passphraseOptions, readPassphrase } from '../passphrase.ts';
import { directorDir, imageRepoDir, locationOptions, openKeyStore } from '../locations.ts';
import { actorOf, byOption, recordAudit } from '../audit.ts';
import { systemClock } from '../system-clock.ts';

const DAY = 24 * 60 * 60 * 1000;
/** Help shared by every command that names a key. */
const KEYID_HELP =
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

async function currentRoot(repository: ImageRepository): Promise<Uint8Array> {
  return readFile(join(repository.metadataDir, `${(await repository.versions()).root}.root.json`));
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

export const keysRootPropose: Command = {
  name: 'keys root propose',
  summary: 'Write root N+1 as a proposal file: add, remove or replace keys, change thresholds or expiry.',
  usage:
    'uproll keys root propose --out FILE [--add ROLE=KEYID] [--remove KEYID] [--threshold ROLE=K] [--expires-days N]',
  details: `${KEYID_HELP}\n--remove refuses a key the current root does not name.`,
  options: {
    ...locationOptions,
    out: { type: 'string', description: 'proposal file to write' },
    add: { type: 'string', multiple: true, description: 'ROLE=KEYID: add a key of the key store to a role' },
    remove: { type: 'string', multiple: true, description: 'KEYID: remove a key from every role' },
    threshold: { type: 'string', multiple: true, description: 'ROLE=K: signatures a role needs' },
    'expires-days': {
      type: 'string',
      description: 'days until the new root expires (default: the policy, 365)',
    },
    ...byOption,
  },
  async run({ values }, io) {
    const by = actorOf(values);
    const out = values['out'];
    if (typeof out !== 'string') throw new UsageError('--out FILE is required');
    const store = openKeyStore(values);
    const repository = new ImageRepository(imageRepoDir(values));
    const pairs = (name: string) =>
      ((values[name] as string[] | undefined) ?? []).map((pair) => {
        const [role, value] = pair.split('=');
        if (!role || !value) throw new UsageError(`--${name} takes ROLE=VALUE, got ${pair}`);
        return [role, value] as const;
      });
    const add: Record<string, Awaited<ReturnType<KeyStore['get']>>['publicKey'][]> = {};
    for (const [role, keyId] of pairs('add')) (add[role] ??= []).push((await store.get(keyId)).publicKey);
    const threshold = Object.fromEntries(pairs('threshold').map(([role, k]) => [role, Number(k)]));
    const days = Number(values['expires-days'] ?? repository.policy.root);
    const proposal = await proposeRoot(await currentRoot(repository), {
      add,
      remove: (values['remove'] as string[] | undefined) ?? [],
      threshold,
      expires: new Date(systemClock().getTime() + days * DAY),
    });
    await writeFileAtomic(out, proposal);
    const status = ceremonyStatus(await currentRoot(repository), proposal);
    await recordAudit(values, io, by, {
      aggregate: 'repository',
      aggregateId: 'image',
      type: 'repository.root.proposed',
      data: { summary: `root v${status.version} proposed`, version: status.version },
    });
    io.out(
      values.json
        ? JSON.stringify(status)
        : `wrote root v${status.version} proposal to ${out}; it needs ${status.byCurrentRoot.need} signatures of the current root keys and ${status.byProposedRoot.need} of its own`,
    );
    return 0;
  },
};

export const keysRootSign: Command = {
  name: 'keys root sign',
  summary: "Add one root key holder's signature to a proposal file.",
  usage: 'uproll keys root sign FILE --key KEYID',
  details: KEYID_HELP,
  options: {
    ...locationOptions,
    key: { type: 'string', description: 'the root key to sign with' },
    ...passphraseOptions('', 'offline key'),
    ...byOption,
  },
  async run({ values, positionals }, io) {
    const by = actorOf(values);
    const [file] = positionals;
    const keyId = values['key'];
    if (!file || typeof keyId !== 'string') throw new UsageError('name the proposal FILE and --key KEYID');
    const store = openKeyStore(values);
    const signer = await store.signer(keyId, await readPassphrase(values, '', 'offline key'));
    const signed = await signRootProposal(await readFile(file), signer);
    await writeFileAtomic(file, signed);
    const { version } = ceremonyStatus(await currentRoot(new ImageRepository(imageRepoDir(values))), signed);
    await recordAudit(values, io, by, {
      aggregate: 'repository',
      aggregateId: 'image',
      type: 'repository.root.signed',
      data: {
        summary: `root v${version} proposal signed with ${signer.keyId.slice(0, 16)}`,
        version,
        keyId: signer.keyId,
      },
    });
    io.out(
      values.json
        ? JSON.stringify({ signed: signer.keyId })
        : `signed ${file} with ${signer.keyId.slice(0, 16)}`,
    );
    return 0;
  },
};

export const keysRootStatus: Command = {
  name: 'keys root status',
  summary: 'Show how many signatures a root proposal has of the current and of the proposed root keys.',
  usage: 'uproll keys root status FILE [--json]',
  details: 'Exits 0 when the proposal can be published, 3 when it needs more signatures.',
  options: { repo: locationOptions.repo },
  async run({ values, positionals }, io) {
    const [file] = positionals;
    if (!file) throw new UsageError('name the proposal FILE');
    const status = ceremonyStatus(
      await currentRoot(new ImageRepository(imageRepoDir(values))),
      await readFile(file),
    );
    io.out(
      values.json
        ? JSON.stringify(status)
        : `root v${status.version}: ${status.byCurrentRoot.have}/${status.byCurrentRoot.need} of the current root keys, ${status.byProposedRoot.have}/${status.byProposedRoot.need} of its own — ${status.complete ? 'ready to publish' : 'needs more signatures'}`,
    );
    return status.complete ? 0 : 3;
  },
};

export const keysRootPublish: Command = {
  name: 'keys root publish',
  summary: 'Publish a fully signed root proposal, with a new snapshot and timestamp.',
  usage: 'uproll keys root publish FILE',
  options: { ...locationOptions, ...passphraseOptions('', 'online key'), ...byOption },
  async run({ values, positionals }, io) {
    const by = actorOf(values);
    const [file] = positionals;
    if (!file) throw new UsageError('name the proposal FILE');
    const passphrase = await readPassphrase(values, '', 'online key');
    const store = openKeyStore(values, { onlineOnly: true });
    const versions = await new ImageRepository(imageRepoDir(values)).publishRoot(
      await readFile(file),
      {
        snapshot: await roleSigners(store, 'image', 'snapshot', passphrase),
        timestamp: await roleSigners(store, 'image', 'timestamp', passphrase),
      },
      new Date(),
    );
    await recordAudit(values, io, by, {
      aggregate: 'repository',
      aggregateId: 'image',
      type: 'repository.root.published',
      data: { summary: `root v${versions.root} published`, versions },
    });
    io.out(values.json ? JSON.stringify(versions) : `published root v${versions.root}`);
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
