import type { Key, MetaFile } from '@tufjs/models';
import { UprollError } from '../errors.ts';
import { checkAgainstMeta } from './meta-file.ts';
import {
  DEFAULT_BYTE_CAPS,
  parseMetadata,
  type Metadata,
  type MetadataByteCaps,
  type Root,
  type Snapshot,
  type Targets,
  type Timestamp,
} from './metadata.ts';
import { verifyThreshold, type RoleKeys } from './threshold.ts';

export interface TrustLimits {
  byteCaps: MetadataByteCaps;
  /** Root versions one refresh may walk through (a bound on a malicious chain). */
  maxRootRotations: number;
  /** Delegated targets roles one target search may visit. */
  maxDelegations: number;
}

export const DEFAULT_LIMITS: TrustLimits = {
  byteCaps: DEFAULT_BYTE_CAPS,
  maxRootRotations: 256,
  maxDelegations: 32,
};

/** Where the ordered workflow stands: each step only after the one before it. */
type Stage = 'root' | 'timestamp' | 'snapshot' | 'targets';

/**
 * The trusted metadata of one TUF repository, updated by the TUF client
 * workflow as an ordered state machine: root chain, then timestamp, snapshot
 * and targets. Every update checks everything before it changes anything, so
 * a rejected file leaves the trusted state exactly as it was. Pure: bytes and
 * a reference time in, trusted metadata or a coded error out.
 */
export class TrustedRepository {
  readonly name: string;
  readonly limits: TrustLimits;
  #root: Metadata<Root>;
  #timestamp: Metadata<Timestamp> | undefined;
  #snapshot: Metadata<Snapshot> | undefined;
  /** Targets roles trusted in this refresh, each with the delegators whose keys it was verified against. */
  readonly #targets = new Map<string, { metadata: Metadata<Targets>; delegators: Set<string> }>();
  #stage: Stage = 'root';
  #rotations = 0;

  /**
   * Starts from a trusted root (the anchor shipped with the device or the
   * last root it verified). TUF 5.2: it must be signed by its own threshold;
   * its expiry is checked only when the root chain is finished.
   */
  constructor(trustedRoot: Uint8Array, options: { name?: string; limits?: Partial<TrustLimits> } = {}) {
    this.name = options.name ?? 'repository';
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    const root = parseMetadata('root', trustedRoot, this.limits.byteCaps.root, `${this.name} root`);
    verifyThreshold(`${this.name} root`, root.signed.roles.root as RoleKeys, root.signed.keys, root);
    this.#root = root;
  }

  get root(): Metadata<Root> {
    return this.#root;
  }
  get timestamp(): Metadata<Timestamp> | undefined {
    return this.#timestamp;
  }
  get snapshot(): Metadata<Snapshot> | undefined {
    return this.#snapshot;
  }
  /** Trusted targets metadata of `role` ('targets' or a delegated role), once loaded. */
  targets(role = 'targets'): Metadata<Targets> | undefined {
    return this.#targets.get(role)?.metadata;
  }

  /**
   * TUF 5.6.7: the trusted metadata of `role` as reached from `delegator`, when
   * it was loaded already in this refresh. A role reached through another
   * delegator than before is verified again, against the keys and threshold
   * this delegator lists for it: one parent's trust never carries over to
   * another (a diamond-shaped delegation). Undefined when not loaded yet.
   */
  reachedTargets(role: string, delegator: string): Metadata<Targets> | undefined {
    this.#expectStage('targets', `${role} metadata`);
    const trusted = this.#targets.get(role);
    if (!trusted || trusted.delegators.has(delegator)) return trusted?.metadata;
    const { keys, roleKeys } = this.#delegation(role, delegator);
    verifyThreshold(`${this.name} ${role} (delegated by ${delegator})`, roleKeys, keys, trusted.metadata);
    trusted.delegators.add(delegator);
    return trusted.metadata;
  }

  /** TUF 5.3.3-5.3.9: accepts root N+1, signed by a threshold of root N's keys and of its own. */
  updateRoot(bytes: Uint8Array): Metadata<Root> {
    this.#expectStage('root', 'a new root');
    if (this.#rotations >= this.limits.maxRootRotations) {
      throw new UprollError(
        'LIMIT_EXCEEDED',
        `${this.name}: more than ${this.limits.maxRootRotations} root rotations in one refresh`,
      );
    }
    const trusted = this.#root;
    const next = parseMetadata('root', bytes, this.limits.byteCaps.root, `${this.name} root`);
    // TUF 5.3.4: signed by a threshold of the trusted root's root keys ...
    verifyThreshold(
      `${this.name} root v${next.signed.version} (by the keys of v${trusted.signed.version})`,
      trusted.signed.roles.root as RoleKeys,
      trusted.signed.keys,
      next,
    );
    // ... and by a threshold of the new root's own root keys.
    verifyThreshold(
      `${this.name} root v${next.signed.version} (by its own keys)`,
      next.signed.roles.root as RoleKeys,
      next.signed.keys,
      next,
    );
    // TUF 5.3.5: exactly version N+1, never a skip or a step back.
    if (next.signed.version !== trusted.signed.version + 1) {
      throw new UprollError(
        'ROLLBACK_ATTACK',
        `${this.name} root v${next.signed.version} does not follow trusted root v${trusted.signed.version}`,
      );
    }
    this.#rotations += 1;
    this.#root = next;
    // TUF 5.3.11: rotated timestamp or snapshot keys invalidate what they signed
    // (recovery from a fast-forward attack with a stolen key).
    if (!sameRoleKeys(trusted, next, 'timestamp') || !sameRoleKeys(trusted, next, 'snapshot')) {
      this.#timestamp = undefined;
      this.#snapshot = undefined;
    }
    return next;
  }

  /** TUF 5.3.10: the root chain ends here; only the final root must not have expired. */
  finishRootUpdates(now: Date): void {
    this.#expectStage('root', 'the end of the root chain');
    this.#checkExpiry(this.#root, 'root', now);
    this.#stage = 'timestamp';
  }

  /**
   * A timestamp kept from an earlier refresh: the baseline for rollback checks.
   * Signatures are checked against the current root; expiry is not (an old
   * copy still proves which versions were seen).
   */
  loadCachedTimestamp(bytes: Uint8Array): void {
    this.#expectStage('timestamp', 'a cached timestamp');
    const cached = parseMetadata(
      'timestamp',
      bytes,
      this.limits.byteCaps.timestamp,
      `${this.name} timestamp`,
    );
    verifyThreshold(
      `${this.name} timestamp`,
      this.#root.signed.roles.timestamp as RoleKeys,
      this.#root.signed.keys,
      cached,
    );
    this.#timestamp = cached;
  }

  /** TUF 5.4: a new timestamp, no older than the trusted one; an equal version keeps the trusted one. */
  updateTimestamp(bytes: Uint8Array, now: Date): Metadata<Timestamp> {
    this.#expectStage('timestamp', 'a timestamp');
    const next = parseMetadata('timestamp', bytes, this.limits.byteCaps.timestamp, `${this.name} timestamp`);
    // TUF 5.4.2: signed by a threshold of the root's timestamp keys.
    verifyThreshold(
      `${this.name} timestamp`,
      this.#root.signed.roles.timestamp as RoleKeys,
      this.#root.signed.keys,
      next,
    );
    const trusted = this.#timestamp;
    let accepted = next;
    if (trusted) {
      // TUF 5.4.3.1: never a lower version; the same version changes nothing.
      if (next.signed.version < trusted.signed.version) {
        throw new UprollError(
          'ROLLBACK_ATTACK',
          `${this.name} timestamp v${next.signed.version} is older than trusted v${trusted.signed.version}`,
        );
      }
      if (next.signed.version === trusted.signed.version) accepted = trusted;
      // TUF 5.4.3.2: never a lower snapshot version.
      if (next.signed.snapshotMeta.version < trusted.signed.snapshotMeta.version) {
        throw new UprollError(
          'ROLLBACK_ATTACK',
          `${this.name} timestamp names snapshot v${next.signed.snapshotMeta.version}, older than trusted v${trusted.signed.snapshotMeta.version}`,
        );
      }
    }
    // TUF 5.4.4: not expired.
    this.#checkExpiry(accepted, 'timestamp', now);
    this.#timestamp = accepted;
    this.#stage = 'snapshot';
    return accepted;
  }

  /** A snapshot kept from an earlier refresh: the baseline for its rollback checks. */
  loadCachedSnapshot(bytes: Uint8Array): void {
    this.#expectStage('snapshot', 'a cached snapshot');
    const cached = parseMetadata('snapshot', bytes, this.limits.byteCaps.snapshot, `${this.name} snapshot`);
    verifyThreshold(
      `${this.name} snapshot`,
      this.#root.signed.roles.snapshot as RoleKeys,
      this.#root.signed.keys,
      cached,
    );
    this.#snapshot = cached;
  }

  /** TUF 5.5: the snapshot the timestamp names, no role version lower than in the trusted one. */
  updateSnapshot(bytes: Uint8Array, now: Date): Metadata<Snapshot> {
    this.#expectStage('snapshot', 'a snapshot');
    const meta = (this.#timestamp as Metadata<Timestamp>).signed.snapshotMeta;
    // TUF 5.5.2: length and hashes as the timestamp lists them.
    checkAgainstMeta(bytes, meta, `${this.name} snapshot`);
    const next = parseMetadata('snapshot', bytes, this.limits.byteCaps.snapshot, `${this.name} snapshot`);
    // TUF 5.5.3: signed by a threshold of the root's snapshot keys.
    verifyThreshold(
      `${this.name} snapshot`,
      this.#root.signed.roles.snapshot as RoleKeys,
      this.#root.signed.keys,
      next,
    );
    // TUF 5.5.4: the version the timestamp names.
    if (next.signed.version !== meta.version) {
      throw new UprollError(
        'MIX_AND_MATCH',
        `${this.name} snapshot is v${next.signed.version}, the timestamp names v${meta.version}`,
      );
    }
    // TUF 5.5.5: every role of the trusted snapshot still listed, at no lower version.
    for (const [file, old] of Object.entries(this.#snapshot?.signed.meta ?? {})) {
      const now = next.signed.meta[file];
      if (!now) throw new UprollError('ROLLBACK_ATTACK', `${this.name} snapshot no longer lists ${file}`);
      if (now.version < old.version) {
        throw new UprollError(
          'ROLLBACK_ATTACK',
          `${this.name} snapshot lowers ${file} from v${old.version} to v${now.version}`,
        );
      }
    }
    // TUF 5.5.6: not expired.
    this.#checkExpiry(next, 'snapshot', now);
    this.#snapshot = next;
    this.#targets.clear();
    this.#stage = 'targets';
    return next;
  }

  /** TUF 5.6: top-level targets, as the snapshot names them, signed by the root's targets keys. */
  updateTargets(bytes: Uint8Array, now: Date): Metadata<Targets> {
    return this.updateDelegatedTargets('targets', 'root', bytes, now);
  }

  /** TUF 5.6 for a delegated role: as the snapshot names it, signed by the keys its delegator lists. */
  updateDelegatedTargets(role: string, delegator: string, bytes: Uint8Array, now: Date): Metadata<Targets> {
    this.#expectStage('targets', `${role} metadata`);
    const { keys, roleKeys } = this.#delegation(role, delegator);
    const meta = (this.#snapshot as Metadata<Snapshot>).signed.meta[`${role}.json`];
    if (!meta) throw new UprollError('MIX_AND_MATCH', `${this.name} snapshot does not list ${role}.json`);
    // TUF 5.6.2: length and hashes as the snapshot lists them (when it does).
    checkAgainstMeta(bytes, meta, `${this.name} ${role}`);
    const next = parseMetadata('targets', bytes, this.limits.byteCaps.targets, `${this.name} ${role}`);
    // TUF 5.6.3: signed by a threshold of the delegator's keys for this role.
    verifyThreshold(`${this.name} ${role}`, roleKeys, keys, next);
    // TUF 5.6.4: the version the snapshot names.
    if (next.signed.version !== meta.version) {
      throw new UprollError(
        'MIX_AND_MATCH',
        `${this.name} ${role} is v${next.signed.version}, the snapshot names v${meta.version}`,
      );
    }
    // TUF 5.6.5: not expired.
    this.#checkExpiry(next, role, now);
    this.#targets.set(role, { metadata: next, delegators: new Set([delegator]) });
    return next;
  }

  #delegation(role: string, delegator: string): { keys: Record<string, Key>; roleKeys: RoleKeys } {
    if (delegator === 'root') {
      if (role !== 'targets') throw new UprollError('TARGET_NOT_FOUND', `root does not delegate ${role}`);
      return { keys: this.#root.signed.keys, roleKeys: this.#root.signed.roles.targets as RoleKeys };
    }
    const parent = this.#targets.get(delegator)?.metadata;
    const delegated = parent?.signed.delegations?.roles?.[role];
    if (!parent?.signed.delegations || !delegated) {
      throw new UprollError('TARGET_NOT_FOUND', `${this.name} ${delegator} does not delegate to ${role}`);
    }
    return { keys: parent.signed.delegations.keys, roleKeys: delegated };
  }

  #expectStage(stage: Stage, what: string): void {
    if (this.#stage !== stage) {
      throw new UprollError(
        'OUT_OF_ORDER',
        `${this.name}: ${what} cannot be verified now (the workflow is at the ${this.#stage} step)`,
      );
    }
  }

  #checkExpiry(metadata: Metadata<Root | Timestamp | Snapshot | Targets>, role: string, now: Date): void {
    if (metadata.signed.isExpired(now)) {
      throw new UprollError(
        'FREEZE_ATTACK',
        `${this.name} ${role} v${metadata.signed.version} expired at ${metadata.signed.expires}`,
      );
    }
  }
}

function sameRoleKeys(a: Metadata<Root>, b: Metadata<Root>, role: 'timestamp' | 'snapshot'): boolean {
  const keysOf = (root: Metadata<Root>) => {
    const r = root.signed.roles[role];
    return JSON.stringify([r?.threshold, [...(r?.keyIDs ?? [])].sort()]);
  };
  return keysOf(a) === keysOf(b);
}

export type { MetaFile };
