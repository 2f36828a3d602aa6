import {
  describeFile,
  repositoryFileName,
  signEnvelope,
  snapshotSigned,
  timestampSigned,
  type Signer,
} from '../../core/tuf/index.ts';
import { FileBlobStore, type BlobStore } from './blob-store.ts';

/** The versions a repository serves now: root, snapshot, timestamp and each targets role. */
export interface ServedVersions {
  root: number;
  snapshot: number;
  timestamp: number;
  /** Version of each targets role the snapshot lists, by role name. */
  roles: Record<string, number>;
}

/**
 * The metadata directory of a TUF repository with consistent snapshots, as
 * the repository services write it: versioned files are only ever added, and
 * `timestamp.json`, replaced atomically, is the commit point that makes a new
 * snapshot current. What it serves is its state: versions are read back from
 * its own files.
 */
export class MetadataFiles {
  readonly #store: BlobStore;
  readonly #prefix: string;

  /** Metadata under `prefix` (e.g. 'metadata/') of a blob store, or in a directory of its own. */
  constructor(store: BlobStore | string, prefix = '') {
    this.#store = typeof store === 'string' ? new FileBlobStore(store) : store;
    this.#prefix = prefix;
  }

  write(file: string, bytes: Uint8Array): Promise<void> {
    return this.#store.put(`${this.#prefix}${file}`, bytes);
  }

  async read(file: string): Promise<Uint8Array> {
    const bytes = await this.#store.get(`${this.#prefix}${file}`);
    if (!bytes) throw new Error(`${this.#prefix}${file} is missing from the repository`);
    return bytes;
  }

  async has(file: string): Promise<boolean> {
    return (await this.#store.get(`${this.#prefix}${file}`)) !== undefined;
  }

  /** The signed part of a file this repository wrote itself. */
  async readSigned(file: string): Promise<Record<string, unknown>> {
    return (
      JSON.parse(new TextDecoder().decode(await this.read(file))) as { signed: Record<string, unknown> }
    ).signed;
  }

  async rootVersions(): Promise<number[]> {
    const names = await this.#store.list(this.#prefix);
    return names
      .map((name) => /^(\d+)\.root\.json$/.exec(name)?.[1])
      .filter((v) => v !== undefined)
      .map(Number);
  }

  async served(): Promise<ServedVersions> {
    const timestamp = await this.readSigned('timestamp.json');
    const snapshotVersion =
      (timestamp['meta'] as Record<string, { version: number }>)['snapshot.json']?.version ?? 0;
    const meta = (await this.readSigned(`${snapshotVersion}.snapshot.json`))['meta'] as Record<
      string,
      { version: number }
    >;
    return {
      root: Math.max(...(await this.rootVersions())),
      snapshot: snapshotVersion,
      timestamp: timestamp['version'] as number,
      roles: Object.fromEntries(
        Object.entries(meta).map(([file, { version }]) => [file.replace(/\.json$/, ''), version]),
      ),
    };
  }

  /** When the served timestamp and snapshot expire. */
  async expiries(): Promise<{ timestamp: Date; snapshot: Date }> {
    const timestamp = await this.readSigned('timestamp.json');
    const snapshotVersion =
      (timestamp['meta'] as Record<string, { version: number }>)['snapshot.json']?.version ?? 0;
    const snapshot = await this.readSigned(`${snapshotVersion}.snapshot.json`);
    return {
      timestamp: new Date(timestamp['expires'] as string),
      snapshot: new Date(snapshot['expires'] as string),
    };
  }

  /**
   * A new snapshot listing `roles` at the given versions (with lengths and
   * hashes), then the timestamp that makes it current.
   */
  async commit(
    current: Pick<ServedVersions, 'snapshot' | 'timestamp'>,
    roles: Record<string, number>,
    signers: { snapshot: readonly Signer[]; timestamp: readonly Signer[] },
    expires: { snapshot: Date; timestamp: Date },
  ): Promise<{ snapshot: number; timestamp: number }> {
    const meta: Record<string, Record<string, unknown>> = {};
    for (const [role, version] of Object.entries(roles)) {
      meta[`${role}.json`] = { version, ...describeFile(await this.read(repositoryFileName(role, version))) };
    }
    const version = current.snapshot + 1;
    const snapshot = await signEnvelope(
      snapshotSigned({ version, expires: expires.snapshot, meta }),
      signers.snapshot,
    );
    await this.write(`${version}.snapshot.json`, snapshot);
    return {
      snapshot: version,
      timestamp: await this.stamp(
        { snapshot: version, timestamp: current.timestamp },
        snapshot,
        signers.timestamp,
        expires.timestamp,
      ),
    };
  }

  /** A new timestamp for `snapshot`; writing it is the commit point. */
  async stamp(
    current: Pick<ServedVersions, 'snapshot' | 'timestamp'>,
    snapshot: Uint8Array,
    signers: readonly Signer[],
    expires: Date,
  ): Promise<number> {
    const version = current.timestamp + 1;
    const timestamp = await signEnvelope(
      timestampSigned({ version, expires, snapshot: { version: current.snapshot, bytes: snapshot } }),
      signers,
    );
    // Until this rename, clients see the previous state.
    await this.write('timestamp.json', timestamp);
    return version;
  }
}
