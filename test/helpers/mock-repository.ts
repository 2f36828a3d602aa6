import { createHash } from 'node:crypto';
import { roleFileName, signEnvelope, type MetadataFetcher, type Signer } from '../../core/tuf/index.ts';
import { newSigner } from './keys.ts';
import { FIXTURE_NOW } from './fixture-time.ts';

export type Json = Record<string, unknown>;
type TopRole = 'root' | 'timestamp' | 'snapshot' | 'targets';

export interface TargetSpec {
  length: number;
  hashes: Record<string, string>;
  custom?: Json;
}

export interface DelegationSpec {
  name: string;
  signers: Signer[];
  threshold: number;
  paths: string[];
  terminating: boolean;
  /** Who delegates to this role ('targets' or another delegated role). */
  delegator: string;
  targets: Record<string, TargetSpec>;
  version: number;
  expires: string;
}

export const FAR_FUTURE = '2099-01-01T00:00:00Z';
export const NOW = FIXTURE_NOW;

/** The description of a target whose bytes are `content`. */
export function targetOf(content: Uint8Array, custom?: Json): TargetSpec {
  return {
    length: content.byteLength,
    hashes: { sha256: createHash('sha256').update(content).digest('hex') },
    ...(custom ? { custom } : {}),
  };
}

/**
 * A signed TUF repository in memory, for tests: each role's keys, versions
 * and expiry can be changed, and `publish()` signs and serves new metadata.
 * The served files can be tampered with, and `fetcher` serves them with the
 * byte caps a real fetcher applies.
 */
export class MockRepository {
  readonly signers: Record<TopRole, Signer[]>;
  readonly thresholds: Record<TopRole, number> = { root: 1, timestamp: 1, snapshot: 1, targets: 1 };
  readonly versions: Record<TopRole, number> = { root: 1, timestamp: 0, snapshot: 0, targets: 0 };
  readonly expires: Record<TopRole, string> = {
    root: FAR_FUTURE,
    timestamp: FAR_FUTURE,
    snapshot: FAR_FUTURE,
    targets: FAR_FUTURE,
  };
  readonly targets: Record<string, TargetSpec> = {};
  readonly delegations: DelegationSpec[] = [];
  /** Extra fields of the top-level targets' signed part (e.g. Uptane's custom). */
  targetsExtra: Json = {};
  /** Extra fields of root's signed part, to test that unknown fields are kept and signed. */
  rootExtra: Json = {};
  consistentSnapshot = false;
  /** Snapshot lists lengths and hashes of targets files when true. */
  hashesInSnapshot = true;
  /** Timestamp lists the length and hashes of snapshot when true. */
  hashesInTimestamp = true;
  readonly files = new Map<string, Uint8Array>();

  constructor(keyCount: Partial<Record<TopRole, number>> = {}) {
    const make = (n = 1) => Array.from({ length: n }, () => newSigner());
    this.signers = {
      root: make(keyCount.root),
      timestamp: make(keyCount.timestamp),
      snapshot: make(keyCount.snapshot),
      targets: make(keyCount.targets),
    };
  }

  /** Signs `signed` with `signers` into metadata bytes, as Uproll's repositories write them. */
  static sign(signed: Json, signers: readonly Signer[]): Promise<Uint8Array> {
    return signEnvelope(signed, signers);
  }

  rootSigned(): Json {
    const keys: Json = {};
    const roles: Json = {};
    for (const role of ['root', 'timestamp', 'snapshot', 'targets'] as const) {
      for (const signer of this.signers[role]) keys[signer.keyId] = signer.publicKey;
      roles[role] = { keyids: this.signers[role].map((s) => s.keyId), threshold: this.thresholds[role] };
    }
    return {
      _type: 'root',
      spec_version: '1.0.31',
      version: this.versions.root,
      expires: this.expires.root,
      consistent_snapshot: this.consistentSnapshot,
      keys,
      roles,
      ...this.rootExtra,
    };
  }

  /** Signs the current root (with `extraSigners` too, e.g. the previous root keys) and serves it as N.root.json. */
  async publishRoot(extraSigners: readonly Signer[] = [], signers?: readonly Signer[]): Promise<Uint8Array> {
    const unique = new Map([...(signers ?? this.signers.root), ...extraSigners].map((s) => [s.keyId, s]));
    const bytes = await MockRepository.sign(this.rootSigned(), [...unique.values()]);
    this.files.set(`${this.versions.root}.root.json`, bytes);
    this.files.set('root.json', bytes);
    return bytes;
  }

  /** Bumps and signs targets (and delegated roles), snapshot and timestamp. */
  async publish(): Promise<void> {
    this.versions.targets += 1;
    const targetsBytes = await MockRepository.sign(this.targetsSigned('targets'), this.signers.targets);
    this.serve('targets', this.versions.targets, targetsBytes);
    const meta: Json = { 'targets.json': this.metaOf(this.versions.targets, targetsBytes) };
    for (const delegation of this.delegations) {
      const bytes = await MockRepository.sign(this.targetsSigned(delegation.name), delegation.signers);
      this.serve(delegation.name, delegation.version, bytes);
      meta[`${delegation.name}.json`] = this.metaOf(delegation.version, bytes);
    }
    await this.publishSnapshot(meta);
  }

  async publishSnapshot(meta: Json, signers = this.signers.snapshot): Promise<Uint8Array> {
    this.versions.snapshot += 1;
    const snapshot = await MockRepository.sign(
      {
        _type: 'snapshot',
        spec_version: '1.0.31',
        version: this.versions.snapshot,
        expires: this.expires.snapshot,
        meta,
      },
      signers,
    );
    this.serve('snapshot', this.versions.snapshot, snapshot);
    await this.publishTimestamp(snapshot);
    return snapshot;
  }

  async publishTimestamp(
    snapshot = this.served('snapshot'),
    signers = this.signers.timestamp,
  ): Promise<Uint8Array> {
    this.versions.timestamp += 1;
    const timestamp = await MockRepository.sign(
      {
        _type: 'timestamp',
        spec_version: '1.0.31',
        version: this.versions.timestamp,
        expires: this.expires.timestamp,
        meta: {
          'snapshot.json': this.hashesInTimestamp
            ? {
                version: this.versions.snapshot,
                length: snapshot.byteLength,
                hashes: { sha256: createHash('sha256').update(snapshot).digest('hex') },
              }
            : { version: this.versions.snapshot },
        },
      },
      signers,
    );
    this.files.set('timestamp.json', timestamp);
    return timestamp;
  }

  /** The bytes currently served for a role (unversioned name). */
  served(role: string): Uint8Array {
    const bytes = this.files.get(roleFileName(role));
    if (!bytes) throw new Error(`${role}.json is not published`);
    return bytes;
  }

  /** Serves whatever `fetch` finds, with a byte cap like a real fetcher (one byte past it, to be detected). */
  readonly fetcher: MetadataFetcher = (fileName, maxBytes) => {
    const bytes = this.files.get(fileName);
    return Promise.resolve(bytes?.subarray(0, maxBytes + 1));
  };

  delegate(spec: Partial<DelegationSpec> & { name: string }): DelegationSpec {
    const delegation: DelegationSpec = {
      signers: [newSigner()],
      threshold: 1,
      paths: ['*'],
      terminating: false,
      delegator: 'targets',
      targets: {},
      version: 1,
      expires: FAR_FUTURE,
      ...spec,
    };
    this.delegations.push(delegation);
    return delegation;
  }

  private targetsSigned(role: string): Json {
    const own = role === 'targets' ? undefined : this.delegations.find((d) => d.name === role);
    const children = this.delegations.filter((d) => d.delegator === role);
    const delegations = children.length
      ? {
          keys: Object.fromEntries(children.flatMap((c) => c.signers.map((s) => [s.keyId, s.publicKey]))),
          roles: children.map((c) => ({
            name: c.name,
            keyids: c.signers.map((s) => s.keyId),
            threshold: c.threshold,
            paths: c.paths,
            terminating: c.terminating,
          })),
        }
      : undefined;
    return {
      _type: 'targets',
      spec_version: '1.0.31',
      version: own ? own.version : this.versions.targets,
      expires: own ? own.expires : this.expires.targets,
      targets: own ? own.targets : this.targets,
      ...(delegations ? { delegations } : {}),
      ...(own ? {} : this.targetsExtra),
    };
  }

  /** Serves a role under the names a client asks for: `ROLE.json` and `VERSION.ROLE.json`, the role percent-encoded. */
  private serve(role: string, version: number, bytes: Uint8Array): void {
    this.files.set(roleFileName(role), bytes);
    this.files.set(roleFileName(role, version), bytes);
  }

  private metaOf(version: number, bytes: Uint8Array): Json {
    if (!this.hashesInSnapshot) return { version };
    return {
      version,
      length: bytes.byteLength,
      hashes: { sha256: createHash('sha256').update(bytes).digest('hex') },
    };
  }
}
