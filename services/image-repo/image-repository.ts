import { join } from 'node:path';
import {
  MAX_REVISION_BYTES,
  objectPath,
  parseJson,
  artifactNameSchema,
  parseValue,
  planRefresh,
  revisionTargetPath,
  stateRevisionSchema,
  UprollError,
  type AppInput,
  type HealthCheckInput,
  type OstreeCommit,
  type StateRevision,
} from '../../core/index.ts';
import {
  canonicalize,
  checkTargetPath,
  describeFile,
  repositoryFileName,
  signEnvelope,
  tufDate,
  targetsSigned,
  type Signer,
  type TargetSpec,
  type TufPublicKey,
} from '../../core/tuf/index.ts';
import { assertRolesSignable, ceremonyStatus } from '../../keys/index.ts';
import {
  expiresAt,
  FileBlobStore,
  IMAGE_EXPIRY_DAYS,
  MetadataFiles,
  signFirstRoot,
  type BlobStore,
  type ExpiryPolicy,
} from '../repo/index.ts';
import { ImageOstreeRepo } from './ostree-repo.ts';
import type { OciImage } from './oci-layout.ts';

/** How long each role's metadata stays valid, in days (DESIGN.md: root a year ... timestamp a day). */
export type ImageExpiryPolicy = ExpiryPolicy<keyof typeof IMAGE_EXPIRY_DAYS>;

/** The public keys of each role of the Image repository. */
export interface ImageRepositoryKeys {
  root: readonly TufPublicKey[];
  rootThreshold: number;
  targets: readonly TufPublicKey[];
  releases: readonly TufPublicKey[];
  snapshot: readonly TufPublicKey[];
  timestamp: readonly TufPublicKey[];
}

/** One artifact of a release: its bytes and what devices it is for. */
export interface ArtifactInput {
  name: string;
  bytes: Uint8Array;
  hardwareIds: readonly string[];
  releaseCounter: number;
}

/** A state revision to publish: its artifacts' bytes by path, the hardware it is for, its release counter. */
export interface RevisionInput {
  name: string;
  /** `image: 'rootfs'` marks the root filesystem image the raw image installer writes into a slot. */
  artifacts: readonly { path: string; bytes: Uint8Array; executable?: boolean; image?: 'rootfs' }[];
  hardwareIds: readonly string[];
  releaseCounter: number;
  health?: HealthCheckInput;
  /** The OS as an OSTree commit of the repository's OSTree repository (`ImageOstreeRepo`). */
  ostree?: OstreeCommit;
  /** Apps: each OCI image's blobs are stored as objects like artifacts (read with `readOciLayout`). */
  apps?: readonly AppRelease[];
}

/** An app to release: how it runs (`AppInput` without its blob list) and its image's blobs. */
export type AppRelease = Omit<AppInput, 'image' | 'blobs'> & { image: OciImage };

/** The versions the repository serves now, read from its own metadata. */
export interface RepositoryVersions {
  root: number;
  targets: number;
  releases: number;
  snapshot: number;
  timestamp: number;
}

/** The delegated role release managers publish with (TUF: day-to-day targets, key kept online). */
export const RELEASES_ROLE = 'releases';

/**
 * The Image repository on disk: TUF metadata with consistent snapshots
 * (`N.root.json`, `N.targets.json`, `N.releases.json`, `N.snapshot.json`,
 * `timestamp.json`) and content-addressed targets (`<sha256>.<name>`).
 * Every publish writes new files and ends by atomically replacing
 * `timestamp.json`: a publish that dies at any point leaves the repository
 * serving its previous consistent state.
 */
export class ImageRepository {
  readonly dir: string;
  readonly policy: ImageExpiryPolicy;
  readonly #files: MetadataFiles;

  readonly #store: BlobStore;

  /** A repository kept in `store` (by default the directory `dir`, which the HTTP server serves). */
  constructor(
    dir: string,
    policy: ImageExpiryPolicy = IMAGE_EXPIRY_DAYS,
    store: BlobStore = new FileBlobStore(dir),
  ) {
    this.dir = dir;
    this.policy = policy;
    this.#store = store;
    this.#files = new MetadataFiles(store, 'metadata/');
  }

  get metadataDir(): string {
    return join(this.dir, 'metadata');
  }
  get targetsDir(): string {
    return join(this.dir, 'targets');
  }

  #expires(role: keyof ImageExpiryPolicy, now: Date): Date {
    return expiresAt(this.policy, role, now);
  }

  /** Root v1, top-level targets v1 delegating every path to `releases`, an empty releases v1, snapshot, timestamp. */
  async initialize(
    keys: ImageRepositoryKeys,
    signers: {
      root: readonly Signer[];
      targets: readonly Signer[];
      releases: readonly Signer[];
      snapshot: readonly Signer[];
      timestamp: readonly Signer[];
    },
    now: Date,
  ): Promise<RepositoryVersions> {
    if ((await this.#files.rootVersions()).length > 0) {
      throw new UprollError('INVALID_INPUT', `${this.dir} already holds a repository`);
    }
    const root = await signFirstRoot(keys, signers.root, this.#expires('root', now));
    await this.#files.write('1.root.json', root);
    await this.#files.write('root.json', root);
    await this.#writeTopTargets(1, keys.releases, signers.targets, now);
    await this.#writeReleases(1, {}, signers.releases, now);
    return this.#commit({ root: 1, targets: 1, releases: 1, snapshot: 0, timestamp: 0 }, signers, now);
  }

  /** The versions currently served (the timestamp decides which snapshot counts). */
  async versions(): Promise<RepositoryVersions> {
    const served = await this.#files.served();
    return {
      root: served.root,
      targets: served.roles['targets'] ?? 0,
      releases: served.roles[RELEASES_ROLE] ?? 0,
      snapshot: served.snapshot,
      timestamp: served.timestamp,
    };
  }

  /** The root the repository serves now: the trust anchor a provisioned device starts from. */
  async currentRootBytes(): Promise<Uint8Array> {
    return this.#files.read(`${(await this.versions()).root}.root.json`);
  }

  /** The targets the releases role lists now. */
  async releasedTargets(): Promise<Record<string, TargetSpec>> {
    const versions = await this.versions();
    return (await this.#files.readSigned(`${versions.releases}.${RELEASES_ROLE}.json`))['targets'] as Record<
      string,
      TargetSpec
    >;
  }

  /** The revision document published under `name`, or undefined when there is none. */
  async publishedRevision(name: string): Promise<StateRevision | undefined> {
    const target = revisionTargetPath(name);
    const spec = (await this.releasedTargets())[target];
    const sha256 = spec?.hashes['sha256'];
    if (!sha256) return undefined;
    const bytes = await this.#store.get(`targets/revisions/${sha256}.${name}.json`);
    if (!bytes) return undefined;
    return parseJson(stateRevisionSchema, bytes, { maxBytes: MAX_REVISION_BYTES, what: target });
  }

  /**
   * Publishes artifacts: stores their bytes content-addressed, lists them
   * in a new version of the releases role, then a new snapshot and timestamp.
   */
  async publish(
    artifacts: readonly ArtifactInput[],
    signers: { releases: readonly Signer[]; snapshot: readonly Signer[]; timestamp: readonly Signer[] },
    now: Date,
  ): Promise<RepositoryVersions> {
    const names = new Set<string>();
    for (const [i, artifact] of artifacts.entries()) {
      parseValue(artifactNameSchema, artifact.name, `artifact ${i} name`, 'INVALID_TARGET_PATH');
      // Two artifacts of one name would have the last win silently.
      if (names.has(artifact.name))
        throw new UprollError('INVALID_INPUT', `${artifact.name} is named twice in this release`);
      names.add(artifact.name);
    }
    return this.#publish(artifacts, signers, now);
  }

  /** Publishes targets of any name, state revision documents included (`publishRevision`). */
  async #publish(
    artifacts: readonly ArtifactInput[],
    signers: { releases: readonly Signer[]; snapshot: readonly Signer[]; timestamp: readonly Signer[] },
    now: Date,
  ): Promise<RepositoryVersions> {
    const entries = artifacts.map((artifact) => [checkTargetPath(artifact.name), artifact] as const);
    for (const [name, artifact] of entries) {
      if (
        artifact.hardwareIds.length === 0 ||
        !Number.isInteger(artifact.releaseCounter) ||
        artifact.releaseCounter < 0
      ) {
        throw new UprollError(
          'INVALID_INPUT',
          `${name} needs at least one hardware id and a whole release counter >= 0`,
        );
      }
    }
    const current = await this.versions();
    const targets = { ...(await this.releasedTargets()) };
    const added = [];
    for (const [name, artifact] of entries) {
      const target: TargetSpec = {
        ...describeFile(artifact.bytes),
        custom: { hardwareIds: [...artifact.hardwareIds], releaseCounter: artifact.releaseCounter },
      };
      const published = targets[name];
      if (published && sameTarget(published, target)) continue; // published exactly so already
      // A device that verified a target by its name must never find other bytes under it.
      if (published)
        throw new UprollError(
          'TARGET_EXISTS',
          `${name} is already published with other content or hardware ids or release counter; a target name is never reused: publish under a new name`,
        );
      targets[name] = target;
      added.push({ name, target, bytes: artifact.bytes });
    }
    if (added.length === 0) return current;
    for (const { name, target, bytes } of added)
      await this.#storeTarget(name, target.hashes['sha256']!, bytes);
    await this.#writeReleases(current.releases + 1, targets, signers.releases, now);
    return this.#commit({ ...current, releases: current.releases + 1 }, signers, now);
  }

  /**
   * Publishes a state revision: stores each artifact once under
   * `objects/<sha256>` (an object already there is not written again), then
   * publishes the revision document as the target `revisions/<name>.json`,
   * which vouches for every object by length and sha256, and for the OSTree
   * commit (if any) by its checksum. The commit must be in the repository's
   * OSTree repository already (`ImageOstreeRepo`).
   */
  async publishRevision(
    revision: RevisionInput,
    signers: { releases: readonly Signer[]; snapshot: readonly Signer[]; timestamp: readonly Signer[] },
    now: Date,
  ): Promise<{
    versions: RepositoryVersions;
    revision: StateRevision;
    target: string;
    /** True when this very revision was published before: nothing was signed again. */
    alreadyPublished: boolean;
  }> {
    const artifacts = revision.artifacts.map((artifact) => ({
      path: artifact.path,
      sha256: describeFile(artifact.bytes).hashes.sha256,
      length: artifact.bytes.byteLength,
      ...(artifact.executable ? { executable: true as const } : {}),
      ...(artifact.image ? { image: artifact.image } : {}),
    }));
    const document = parseValue(
      stateRevisionSchema,
      {
        kind: 'uproll.state-revision/v1',
        name: revision.name,
        artifacts,
        ostree: revision.ostree,
        health: revision.health,
        ...(revision.apps
          ? {
              apps: revision.apps.map(({ image, ...app }) => ({
                ...app,
                image: { manifest: image.manifest },
                blobs: image.blobs.map((b) => ({ sha256: b.sha256, length: b.bytes.byteLength })),
              })),
            }
          : {}),
      },
      `revision ${revision.name}`,
    );
    const target = revisionTargetPath(document.name);
    const documentTarget = {
      name: target,
      bytes: Buffer.from(`${JSON.stringify(document, null, 2)}\n`),
      hardwareIds: revision.hardwareIds,
      releaseCounter: revision.releaseCounter,
    };
    const published = (await this.releasedTargets())[target];
    if (published) {
      const same = sameTarget(published, {
        ...describeFile(documentTarget.bytes),
        custom: { hardwareIds: [...revision.hardwareIds], releaseCounter: revision.releaseCounter },
      });
      if (!same)
        throw new UprollError(
          'REVISION_EXISTS',
          `revision ${document.name} is already published with other artifacts, health check, hardware ids or release counter; a revision name is never reused: publish it under a new name`,
        );
      return { versions: await this.versions(), revision: document, target, alreadyPublished: true };
    }
    const ostree = new ImageOstreeRepo(this.dir);
    if (document.ostree && !(await ostree.hasCommit(document.ostree.commit)))
      throw new UprollError(
        'INVALID_INPUT',
        `OSTree commit ${document.ostree.commit} is not in ${ostree.dir}: devices could not pull it`,
      );
    for (const [i, artifact] of revision.artifacts.entries()) {
      const key = `targets/${objectPath(artifacts[i]!.sha256)}`;
      if ((await this.#store.get(key)) === undefined) await this.#store.put(key, artifact.bytes);
    }
    // App blobs are objects too, checked against their sha256 before they are stored.
    for (const blob of (revision.apps ?? []).flatMap((app) => app.image.blobs)) {
      if (describeFile(blob.bytes).hashes.sha256 !== blob.sha256)
        throw new UprollError('HASH_MISMATCH', `an app blob is not sha256 ${blob.sha256}`);
      const key = `targets/${objectPath(blob.sha256)}`;
      if ((await this.#store.get(key)) === undefined) await this.#store.put(key, blob.bytes);
    }
    const versions = await this.#publish([documentTarget], signers, now);
    return { versions, revision: document, target, alreadyPublished: false };
  }

  /**
   * Re-signs the timestamp (and the snapshot when asked, e.g. when it nears
   * its expiry) without changing any target: keeps the repository fresh.
   */
  async refresh(
    signers: { snapshot: readonly Signer[]; timestamp: readonly Signer[] },
    now: Date,
    options: { snapshot: boolean },
  ): Promise<RepositoryVersions> {
    const current = await this.versions();
    if (options.snapshot) return this.#commit(current, signers, now);
    const snapshot = await this.#files.read(`${current.snapshot}.snapshot.json`);
    const timestamp = await this.#files.stamp(
      current,
      snapshot,
      signers.timestamp,
      this.#expires('timestamp', now),
    );
    return { ...current, timestamp };
  }

  /** Re-signs what nears its expiry (see `planRefresh`); returns what it re-signed. */
  async keepFresh(
    signers: { snapshot: readonly Signer[]; timestamp: readonly Signer[] },
    now: Date,
  ): Promise<{ timestamp: boolean; snapshot: boolean }> {
    const plan = planRefresh(await this.#files.expiries(), now);
    if (plan.timestamp) await this.refresh(signers, now, { snapshot: plan.snapshot });
    return plan;
  }

  /**
   * Publishes root N+1 once it carries a threshold of the current root's keys
   * and of its own (CEREMONY_INCOMPLETE otherwise), then a new snapshot and
   * timestamp signed by the keys the new root names.
   */
  async publishRoot(
    proposal: Uint8Array,
    signers: { snapshot: readonly Signer[]; timestamp: readonly Signer[]; targets?: readonly Signer[] },
    now: Date,
  ): Promise<RepositoryVersions> {
    const current = await this.versions();
    const status = ceremonyStatus(await this.#files.read(`${current.root}.root.json`), proposal);
    if (!status.complete) {
      throw new UprollError(
        'CEREMONY_INCOMPLETE',
        `root v${status.version} has ${status.byCurrentRoot.have} of ${status.byCurrentRoot.need} signatures of the current root keys and ${status.byProposedRoot.have} of ${status.byProposedRoot.need} of its own`,
      );
    }
    const keyIds = (list: readonly Signer[]) => list.map((signer) => signer.keyId);
    // Kept as it is unless re-signed: its signatures must then still count under the new root.
    const targetsSignedBy = signers.targets
      ? keyIds(signers.targets)
      : (
          JSON.parse(new TextDecoder().decode(await this.#files.read(`${current.targets}.targets.json`))) as {
            signatures: { keyid: string }[];
          }
        ).signatures.map((s) => s.keyid);
    assertRolesSignable(proposal, {
      snapshot: keyIds(signers.snapshot),
      timestamp: keyIds(signers.timestamp),
      targets: targetsSignedBy,
    });
    let targetsVersion = current.targets;
    if (signers.targets) {
      // New targets keys: the same top-level targets, re-signed by them as a new version.
      const signed = await this.#files.readSigned(`${current.targets}.targets.json`);
      targetsVersion += 1;
      const resigned = {
        ...signed,
        version: targetsVersion,
        expires: tufDate(this.#expires('targets', now)),
      };
      await this.#files.write(
        `${targetsVersion}.targets.json`,
        await signEnvelope(resigned, signers.targets),
      );
    }
    await this.#files.write(`${status.version}.root.json`, proposal);
    await this.#files.write('root.json', proposal);
    return this.#commit({ ...current, root: status.version, targets: targetsVersion }, signers, now);
  }

  /**
   * Replaces the keys of the releases role: a new top-level targets (signed
   * by the offline targets keys) delegating to them, the releases role
   * re-signed by them, then snapshot and timestamp.
   */
  async rotateReleasesKeys(
    keys: readonly TufPublicKey[],
    signers: {
      targets: readonly Signer[];
      releases: readonly Signer[];
      snapshot: readonly Signer[];
      timestamp: readonly Signer[];
    },
    now: Date,
  ): Promise<RepositoryVersions> {
    const current = await this.versions();
    await this.#writeTopTargets(current.targets + 1, keys, signers.targets, now);
    await this.#writeReleases(current.releases + 1, await this.releasedTargets(), signers.releases, now);
    return this.#commit(
      { ...current, targets: current.targets + 1, releases: current.releases + 1 },
      signers,
      now,
    );
  }

  /** A new snapshot over the given targets versions, then the timestamp that makes it current. */
  async #commit(
    versions: RepositoryVersions,
    signers: { snapshot: readonly Signer[]; timestamp: readonly Signer[] },
    now: Date,
  ): Promise<RepositoryVersions> {
    const committed = await this.#files.commit(
      versions,
      { targets: versions.targets, [RELEASES_ROLE]: versions.releases },
      signers,
      { snapshot: this.#expires('snapshot', now), timestamp: this.#expires('timestamp', now) },
    );
    return { ...versions, ...committed };
  }

  /** Top-level targets: no targets of its own, every path delegated (terminating) to the releases role. */
  async #writeTopTargets(
    version: number,
    releasesKeys: readonly TufPublicKey[],
    signers: readonly Signer[],
    now: Date,
  ): Promise<void> {
    const signed = targetsSigned({
      version,
      expires: this.#expires('targets', now),
      targets: {},
      delegations: [
        // TUF path patterns match segment by segment: `*` for artifacts, `*/*` for `revisions/<name>.json`.
        { name: RELEASES_ROLE, keys: releasesKeys, threshold: 1, paths: ['*', '*/*'], terminating: true },
      ],
    });
    await this.#files.write(repositoryFileName('targets', version), await signEnvelope(signed, signers));
  }

  async #writeReleases(
    version: number,
    targets: Record<string, TargetSpec>,
    signers: readonly Signer[],
    now: Date,
  ): Promise<void> {
    const bytes = await signEnvelope(
      targetsSigned({ version, expires: this.#expires('releases', now), targets }),
      signers,
    );
    await this.#files.write(repositoryFileName(RELEASES_ROLE, version), bytes);
  }

  async #storeTarget(name: string, sha256: string, bytes: Uint8Array): Promise<void> {
    const slash = name.lastIndexOf('/');
    await this.#store.put(`targets/${name.slice(0, slash + 1)}${sha256}.${name.slice(slash + 1)}`, bytes);
  }
}

/** Whether a published target lists exactly these bytes (length, sha256) for the same hardware and counter. */
function sameTarget(published: TargetSpec, target: TargetSpec): boolean {
  return (
    published.length === target.length &&
    published.hashes['sha256'] === target.hashes['sha256'] &&
    canonicalize(published.custom ?? null) === canonicalize(target.custom ?? null)
  );
}
