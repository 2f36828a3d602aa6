import { readFile } from 'node:fs/promises';
import { UprollError } from '../../core/index.ts';
import type { TufPublicKey } from '../../core/tuf/index.ts';
import {
  ceremonyStatus,
  proposeRoot,
  roleSigners,
  signRootProposal,
  type KeyStore,
} from '../../keys/index.ts';
import { DirectorRepository } from '../../services/director/index.ts';
import { DIRECTOR_EXPIRY_DAYS } from '../../services/repo/index.ts';
import { writeFileAtomic } from '../../adapters/fs/index.ts';
import { ImageRepository } from '../../services/image-repo/index.ts';
import { UsageError, type Command } from '../command.ts';
import { passphraseOptions, readPassphrase } from '../passphrase.ts';
import { directorDir, imageRepoDir, locationOptions, openKeyStore } from '../locations.ts';
import { actorOf, byOption, recordAudit } from '../audit.ts';
import { systemClock } from '../system-clock.ts';
import { KEYID_HELP } from './key-ceremony.ts';

const DAY = 24 * 60 * 60 * 1000;

/** The repository whose root a ceremony changes, behind the few calls the ceremony makes. */
interface CeremonyRepository {
  name: 'image' | 'director';
  currentRoot(): Promise<Uint8Array>;
  /** Days a new root is valid unless the proposal says otherwise. */
  rootExpiryDays: number;
  /** Publishes the complete proposal with the repository's online keys; returns the versions served then. */
  publish(proposal: Uint8Array, store: KeyStore, passphrase: string): Promise<{ root: number }>;
}

const repositoryOption = {
  repository: { type: 'string', description: 'whose root: image (default) or director' },
} as const;

function ceremonyRepository(values: Record<string, unknown>): CeremonyRepository {
  const name = values['repository'] ?? 'image';
  if (name === 'image') {
    const image = new ImageRepository(imageRepoDir(values));
    return {
      name,
      currentRoot: () => image.currentRootBytes(),
      rootExpiryDays: image.policy.root,
      publish: async (proposal, store, passphrase) =>
        image.publishRoot(
          proposal,
          {
            snapshot: await roleSigners(store, 'image', 'snapshot', passphrase),
            timestamp: await roleSigners(store, 'image', 'timestamp', passphrase),
          },
          systemClock(),
        ),
    };
  }
  if (name === 'director') {
    const director = new DirectorRepository(directorDir(values));
    return {
      name,
      currentRoot: () => director.currentRoot(),
      rootExpiryDays: DIRECTOR_EXPIRY_DAYS.root,
      // Every signer is opened first: a wrong passphrase fails before anything is written.
      publish: async (proposal, store, passphrase) => {
        const signers = {
          targets: await roleSigners(store, 'director', 'targets', passphrase),
          snapshot: await roleSigners(store, 'director', 'snapshot', passphrase),
          timestamp: await roleSigners(store, 'director', 'timestamp', passphrase),
        };
        return { root: await director.publishRoot(proposal, signers, systemClock()) };
      },
    };
  }
  throw new UsageError('--repository must be image or director');
}

/** "root" for the Image repository, as it always read; "director root" for the Director. */
const rootName = (repository: CeremonyRepository) => (repository.name === 'image' ? 'root' : 'director root');

export const keysRootPropose: Command = {
  name: 'keys root propose',
  summary: 'Write root N+1 as a proposal file: add, remove or replace keys, change thresholds or expiry.',
  usage:
    'uproll keys root propose --out FILE [--repository image|director] [--add ROLE=KEYID] [--remove KEYID] [--threshold ROLE=K] [--expires-days N]',
  details: `${KEYID_HELP}\n--remove refuses a key the current root does not name; --add a key of another repository.`,
  options: {
    ...locationOptions,
    ...repositoryOption,
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
    const repository = ceremonyRepository(values);
    const pairs = (name: string) =>
      ((values[name] as string[] | undefined) ?? []).map((pair) => {
        const [role, value] = pair.split('=');
        if (!role || !value) throw new UsageError(`--${name} takes ROLE=VALUE, got ${pair}`);
        return [role, value] as const;
      });
    const add: Record<string, TufPublicKey[]> = {};
    for (const [role, keyId] of pairs('add')) {
      const record = await store.get(keyId);
      // One repository's keys never sign for the other: that would tie their trust together.
      if (record.repository !== repository.name)
        throw new UprollError(
          'INVALID_INPUT',
          `key ${record.keyId.slice(0, 16)} belongs to the ${record.repository} keys, not the ${repository.name}'s`,
        );
      (add[role] ??= []).push(record.publicKey);
    }
    const threshold = Object.fromEntries(pairs('threshold').map(([role, k]) => [role, Number(k)]));
    const days = Number(values['expires-days'] ?? repository.rootExpiryDays);
    const current = await repository.currentRoot();
    const proposal = await proposeRoot(current, {
      add,
      remove: (values['remove'] as string[] | undefined) ?? [],
      threshold,
      expires: new Date(systemClock().getTime() + days * DAY),
    });
    await writeFileAtomic(out, proposal);
    const status = ceremonyStatus(current, proposal);
    await recordAudit(values, io, by, {
      aggregate: 'repository',
      aggregateId: repository.name,
      type: 'repository.root.proposed',
      data: { summary: `${rootName(repository)} v${status.version} proposed`, version: status.version },
    });
    io.out(
      values.json
        ? JSON.stringify(status)
        : `wrote ${rootName(repository)} v${status.version} proposal to ${out}; it needs ${status.byCurrentRoot.need} signatures of the current root keys and ${status.byProposedRoot.need} of its own`,
    );
    return 0;
  },
};

export const keysRootNewKey: Command = {
  name: 'keys root new-key',
  summary:
    'Create a new offline root key in the key store, for a ceremony to add (`propose --add root=KEYID`).',
  usage: 'uproll keys root new-key [--repository image|director] [--key-type ed25519|ecdsa|rsa] [--json]',
  details:
    'The key is encrypted with the offline passphrase and signs nothing until a root ceremony adds it:\n' +
    'propose --add root=KEYID (and --remove the key it replaces), sign with a threshold of the current and\n' +
    'of the new root keys, the new one included, then publish.',
  options: {
    ...locationOptions,
    ...repositoryOption,
    'key-type': { type: 'string', description: 'ed25519 (default), ecdsa or rsa' },
    ...passphraseOptions('', 'offline key'),
    ...byOption,
  },
  async run({ values }, io) {
    const by = actorOf(values);
    const repository = ceremonyRepository(values);
    const type = values['key-type'] ?? 'ed25519';
    if (type !== 'ed25519' && type !== 'ecdsa' && type !== 'rsa')
      throw new UsageError('--key-type must be ed25519, ecdsa or rsa');
    const store = openKeyStore(values);
    const record = await store.generate({
      repository: repository.name,
      role: 'root',
      type,
      online: false,
      passphrase: await readPassphrase(values, '', 'offline key'),
      now: systemClock(),
    });
    await recordAudit(values, io, by, {
      aggregate: 'repository',
      aggregateId: repository.name,
      type: 'repository.keys.created',
      data: {
        summary: `new ${rootName(repository)} key ${record.keyId.slice(0, 16)} (${type}), not in the root yet`,
        keyIds: [record.keyId],
      },
    });
    io.out(
      values.json
        ? JSON.stringify(record)
        : `created ${rootName(repository)} key ${record.keyId} (${type}, offline); add it with keys root propose --add root=${record.keyId.slice(0, 16)}`,
    );
    return 0;
  },
};

export const keysRootSign: Command = {
  name: 'keys root sign',
  summary: "Add one root key holder's signature to a proposal file.",
  usage: 'uproll keys root sign FILE --key KEYID [--repository image|director]',
  details: KEYID_HELP,
  options: {
    ...locationOptions,
    ...repositoryOption,
    key: { type: 'string', description: 'the root key to sign with' },
    ...passphraseOptions('', 'offline key'),
    ...byOption,
  },
  async run({ values, positionals }, io) {
    const by = actorOf(values);
    const [file] = positionals;
    const keyId = values['key'];
    if (!file || typeof keyId !== 'string') throw new UsageError('name the proposal FILE and --key KEYID');
    const repository = ceremonyRepository(values);
    const store = openKeyStore(values);
    const proposal = await readFile(file);
    // Checked before signing: a proposal for another repository or version is refused, not signed.
    ceremonyStatus(await repository.currentRoot(), proposal);
    const signer = await store.signer(keyId, await readPassphrase(values, '', 'offline key'));
    const signed = await signRootProposal(proposal, signer);
    await writeFileAtomic(file, signed);
    const { version } = ceremonyStatus(await repository.currentRoot(), signed);
    await recordAudit(values, io, by, {
      aggregate: 'repository',
      aggregateId: repository.name,
      type: 'repository.root.signed',
      data: {
        summary: `${rootName(repository)} v${version} proposal signed with ${signer.keyId.slice(0, 16)}`,
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
  usage: 'uproll keys root status FILE [--repository image|director] [--json]',
  details: 'Exits 0 when the proposal can be published, 3 when it needs more signatures.',
  options: { repo: locationOptions.repo, director: locationOptions.director, ...repositoryOption },
  async run({ values, positionals }, io) {
    const [file] = positionals;
    if (!file) throw new UsageError('name the proposal FILE');
    const repository = ceremonyRepository(values);
    const status = ceremonyStatus(await repository.currentRoot(), await readFile(file));
    io.out(
      values.json
        ? JSON.stringify(status)
        : `${rootName(repository)} v${status.version}: ${status.byCurrentRoot.have}/${status.byCurrentRoot.need} of the current root keys, ${status.byProposedRoot.have}/${status.byProposedRoot.need} of its own — ${status.complete ? 'ready to publish' : 'needs more signatures'}`,
    );
    return status.complete ? 0 : 3;
  },
};

export const keysRootPublish: Command = {
  name: 'keys root publish',
  summary: 'Publish a fully signed root proposal, with a new snapshot and timestamp.',
  usage: 'uproll keys root publish FILE [--repository image|director]',
  details:
    "The Director re-signs every device's metadata with its online keys: each device follows the new root\n" +
    'through the verified root chain at its next update.',
  options: { ...locationOptions, ...repositoryOption, ...passphraseOptions('', 'online key'), ...byOption },
  async run({ values, positionals }, io) {
    const by = actorOf(values);
    const [file] = positionals;
    if (!file) throw new UsageError('name the proposal FILE');
    const repository = ceremonyRepository(values);
    const passphrase = await readPassphrase(values, '', 'online key');
    const store = openKeyStore(values, { onlineOnly: true });
    const versions = await repository.publish(await readFile(file), store, passphrase);
    await recordAudit(values, io, by, {
      aggregate: 'repository',
      aggregateId: repository.name,
      type: 'repository.root.published',
      data: { summary: `${rootName(repository)} v${versions.root} published`, versions },
    });
    io.out(values.json ? JSON.stringify(versions) : `published ${rootName(repository)} v${versions.root}`);
    return 0;
  },
};
