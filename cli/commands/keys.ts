import { UprollError } from '../../core/index.ts';
import {
  createFleetCa,
  IMAGE_ROLES,
  type ImageRole,
  type KeyRecord,
  type KeyStore,
} from '../../keys/index.ts';
import { DirectorRepository } from '../../services/director/index.ts';
import { writeFileAtomic } from '../../adapters/fs/index.ts';
import { ImageRepository } from '../../services/image-repo/index.ts';
import { UsageError, type Command, type Io } from '../command.ts';
import { directorDir, fleetCaPath, imageRepoDir, locationOptions, openKeyStore } from '../locations.ts';
import { passphraseOptions, readPassphrase } from '../passphrase.ts';
import { actorOf, byOption, recordAudit } from '../audit.ts';

export const keysInit: Command = {
  name: 'keys init',
  summary:
    'Create the keys of the Image repository and the Director (root k of n, offline), their root v1, and the fleet CA.',
  usage: 'uproll keys init [--root-keys N] [--threshold K] [--key-type ed25519|ecdsa|rsa] [--json]',
  details:
    'Root and targets keys are offline keys, encrypted with the offline passphrase; releases, snapshot and\n' +
    'timestamp keys are online keys for the services, encrypted with the online passphrase. Passphrases come\n' +
    'from an environment variable, a file descriptor or the terminal, never from the command line.',
  options: {
    ...locationOptions,
    'root-keys': { type: 'string', description: 'number of root keys (default 3)' },
    threshold: { type: 'string', description: 'root keys needed to sign a root (default 2)' },
    'key-type': { type: 'string', description: 'ed25519 (default), ecdsa or rsa' },
    ...passphraseOptions('offline-', 'offline key'),
    ...passphraseOptions('online-', 'online key'),
    ...byOption,
  },
  async run({ values }, io) {
    const by = actorOf(values);
    const count = Number(values['root-keys'] ?? 3);
    const threshold = Number(values['threshold'] ?? 2);
    const type = (values['key-type'] ?? 'ed25519') as 'ed25519' | 'ecdsa' | 'rsa';
    if (!Number.isInteger(count) || count < 1 || count > 16)
      throw new UsageError('--root-keys must be 1 to 16');
    if (!Number.isInteger(threshold) || threshold < 1 || threshold > count)
      throw new UsageError('--threshold must be 1 to --root-keys');
    if (!['ed25519', 'ecdsa', 'rsa'].includes(type))
      throw new UsageError('--key-type must be ed25519, ecdsa or rsa');
    const repository = new ImageRepository(imageRepoDir(values));
    const store = openKeyStore(values);
    if ((await store.list()).some((r) => r.repository === 'image' && !r.revoked)) {
      throw new UprollError('INVALID_INPUT', `${store.dir} already holds Image repository keys`);
    }
    const passphrases = {
      offline: await readPassphrase(values, 'offline-', 'offline key'),
      online: await readPassphrase(values, 'online-', 'online key'),
    };
    const now = new Date();
    const created: Record<ImageRole, KeyRecord[]> = {
      root: [],
      targets: [],
      releases: [],
      snapshot: [],
      timestamp: [],
    };
    for (const role of Object.keys(IMAGE_ROLES) as ImageRole[]) {
      const { online } = IMAGE_ROLES[role];
      for (let i = 0; i < (role === 'root' ? count : 1); i++) {
        created[role].push(
          await store.generate({
            repository: 'image',
            role,
            type,
            online,
            passphrase: online ? passphrases.online : passphrases.offline,
            now,
          }),
        );
      }
    }
    const signersOf = (role: ImageRole) =>
      Promise.all(
        created[role].map((r) =>
          store.signer(r.keyId, IMAGE_ROLES[role].online ? passphrases.online : passphrases.offline),
        ),
      );
    const publicKeys = (role: ImageRole) => created[role].map((r) => r.publicKey);
    const versions = await repository.initialize(
      {
        root: publicKeys('root'),
        rootThreshold: threshold,
        targets: publicKeys('targets'),
        releases: publicKeys('releases'),
        snapshot: publicKeys('snapshot'),
        timestamp: publicKeys('timestamp'),
      },
      {
        root: await signersOf('root'),
        targets: await signersOf('targets'),
        releases: await signersOf('releases'),
        snapshot: await signersOf('snapshot'),
        timestamp: await signersOf('timestamp'),
      },
      now,
    );
    const fleet = await initDirectorAndFleetCa(store, directorDir(values), {
      count,
      threshold,
      type,
      passphrases,
      now,
    });
    const keys = [...Object.values(created).flat(), ...fleet.keys];
    for (const repo of ['image', 'director'] as const) {
      const ids = keys.filter((k) => k.repository === repo).map((k) => `${k.role} ${k.keyId.slice(0, 16)}`);
      await recordAudit(values, io, by, {
        aggregate: 'repository',
        aggregateId: repo,
        type: 'repository.keys.created',
        data: {
          summary: `root v1 (${threshold} of ${count} root keys); keys ${ids.join(', ')}`,
          keyIds: keys.filter((k) => k.repository === repo).map((k) => k.keyId),
        },
      });
    }
    if (values.json) {
      io.out(
        JSON.stringify({
          repository: repository.dir,
          director: fleet.director,
          keystore: store.dir,
          versions,
          keys,
        }),
      );
    } else {
      io.out(`Image repository created in ${repository.dir} (root v1, ${threshold} of ${count} root keys)`);
      io.out(`Director created in ${fleet.director}; fleet CA certificate in ${fleet.caCertificate}`);
      printKeys(keys, io);
    }
    return 0;
  },
};

/** The Director's keys (root offline, the rest online), its root v1, and the fleet CA (an online RSA key). */
async function initDirectorAndFleetCa(
  store: KeyStore,
  dir: string,
  options: {
    count: number;
    threshold: number;
    type: 'ed25519' | 'ecdsa' | 'rsa';
    passphrases: { offline: string; online: string };
    now: Date;
  },
) {
  const { passphrases, now, type } = options;
  const generate = (
    role: string,
    online: boolean,
    repository: 'director' | 'fleet' = 'director',
    keyType = type,
  ) =>
    store.generate({
      repository,
      role,
      type: keyType,
      online,
      passphrase: online ? passphrases.online : passphrases.offline,
      now,
    });
  const roots = [];
  for (let i = 0; i < options.count; i++) roots.push(await generate('root', false));
  const [targets, snapshot, timestamp] = [
    await generate('targets', true),
    await generate('snapshot', true),
    await generate('timestamp', true),
  ];
  const director = new DirectorRepository(dir);
  await director.initialize(
    {
      root: roots.map((r) => r.publicKey),
      rootThreshold: options.threshold,
      targets: [targets.publicKey],
      snapshot: [snapshot.publicKey],
      timestamp: [timestamp.publicKey],
    },
    await Promise.all(roots.map((r) => store.signer(r.keyId, passphrases.offline))),
    now,
  );
  const ca = await generate('ca', true, 'fleet', 'rsa');
  const api = await generate('api', true, 'fleet', 'ed25519');
  const caCertificate = fleetCaPath(store.dir);
  await writeFileAtomic(
    caCertificate,
    createFleetCa(await store.privateKey(ca.keyId, passphrases.online), now),
  );
  return { director: dir, caCertificate, keys: [...roots, targets, snapshot, timestamp, ca, api] };
}

export const keysList: Command = {
  name: 'keys list',
  summary: 'List the keys of the key store: role, key id, type, created, expires, online/offline, revoked.',
  usage: 'uproll keys list [--keystore DIR] [--json]',
  options: { keystore: locationOptions.keystore },
  async run({ values }, io) {
    const keys = await openKeyStore(values).list();
    if (values.json) io.out(JSON.stringify(keys));
    else printKeys(keys, io);
    return 0;
  },
};

const ROLE_ORDER = ['root', 'targets', 'releases', 'snapshot', 'timestamp', 'ca', 'api'];

function printKeys(keys: readonly KeyRecord[], io: Io): void {
  const rank = (k: KeyRecord) =>
    `${k.repository}:${String(ROLE_ORDER.indexOf(k.role) + 1).padStart(2, '0')}:${k.role}:${k.created}`;
  const rows = [...keys]
    .sort((a, b) => rank(a).localeCompare(rank(b)))
    .map((k) => [
      k.repository,
      k.role,
      k.keyId.slice(0, 16),
      k.type,
      k.created.slice(0, 10),
      k.expires?.slice(0, 10) ?? '-',
      k.online ? 'online' : 'offline',
      k.revoked ? `revoked ${k.revoked.at.slice(0, 10)}` : '',
    ]);
  const header = ['REPOSITORY', 'ROLE', 'KEY ID', 'TYPE', 'CREATED', 'EXPIRES', 'STORAGE', 'REVOKED'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  for (const row of [header, ...rows])
    io.out(
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
}

export const keysAudit: Command = {
  name: 'keys audit',
  summary:
    'Show the audit trail: every signature made with a key of the key store (when, key, role, digest).',
  usage: 'uproll keys audit [--keystore DIR] [--json]',
  options: { keystore: locationOptions.keystore },
  async run({ values }, io) {
    const trail = await openKeyStore(values).auditTrail();
    if (values.json) io.out(JSON.stringify(trail));
    else
      for (const e of trail)
        io.out(
          `${e.at}  ${e.repository.padEnd(8)} ${e.role.padEnd(9)} ${e.keyId.slice(0, 16)}  sha256:${e.sha256.slice(0, 16)}`,
        );
    return 0;
  },
};
