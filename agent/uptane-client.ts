import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import {
  MAX_REVISION_BYTES,
  parseJson,
  parseValue,
  stateRevisionSchema,
  UprollError,
  type StateRevision,
  type Clock,
} from '../core/index.ts';
import { targetUrlPath, TrustedRepository, verifyTargetBytes } from '../core/tuf/index.ts';
import {
  fullVerification,
  verificationTime,
  type DeviceIdentity,
  type VerifiedImage,
} from '../core/uptane/index.ts';
import { writeFileAtomic } from '../adapters/fs/index.ts';
import { PRIVATE } from './data-dir.ts';
import type { AgentIdentity } from './identity.ts';
import { fetchCapped, joinUrl, metadataDirectory } from '../adapters/tuf/index.ts';

const secureTimeSchema = z.object({ lastVerified: z.iso.datetime() });

export interface UptaneClientOptions {
  dataDir: string;
  device: DeviceIdentity;
  /** Metadata base URLs: the Image repository's and this device's Director folder. */
  imageMetadataUrl: string;
  directorMetadataUrl: string;
  /** Base URL of the Image repository's targets (revision documents and `objects/`). */
  imageTargetsUrl: string;
  /** Trust anchors from the provisioning bundle, used until a newer root is trusted. */
  imageRoot: Uint8Array;
  directorRoot: Uint8Array;
  /** The device's clock; verification never goes back before the last verified time. */
  clock: Clock;
  /** Slow-retrieval floor of metadata and revision downloads (default: SLOW_RETRIEVAL_DEFAULTS). */
  floor?: { minBytesPerSecond?: number; windowMs?: number };
}

/**
 * The agent's Uptane side: full verification against the Director and the
 * Image repository, with the trusted metadata of each kept under the data
 * directory (so roots only move forward through verified rotations) and a
 * secure time that never goes back before the last successful verification.
 */
export class UptaneClient {
  readonly #options: UptaneClientOptions;

  constructor(options: UptaneClientOptions) {
    this.#options = options;
  }

  #dir(repository: 'image' | 'director'): string {
    return join(this.#options.dataDir, 'trust', repository);
  }
  get #secureTimePath(): string {
    return join(this.#options.dataDir, 'trust', 'secure-time.json');
  }

  /** What each ECU must install now, verified; throws the attack code of the first failed check. */
  async verify(installed: Readonly<Record<string, { releaseCounter: number }>>): Promise<VerifiedImage[]> {
    const now = verificationTime(this.#options.clock(), await this.#lastVerified());
    const access = async (repository: 'image' | 'director', url: string, anchor: Uint8Array) => {
      const cache = metadataDirectory(this.#dir(repository));
      const trusted = await cache.load('root');
      if (!trusted) await cache.save('root', anchor); // from now on the root only moves by verified rotation
      return {
        repository: new TrustedRepository(trusted ?? anchor, { name: repository }),
        fetch: (file: string, max: number) => fetchCapped(joinUrl(url, file), max, this.#options.floor),
        cache,
      };
    };
    const verified = await fullVerification({
      director: await access('director', this.#options.directorMetadataUrl, this.#options.directorRoot),
      image: await access('image', this.#options.imageMetadataUrl, this.#options.imageRoot),
      device: this.#options.device,
      installed,
      now,
    });
    await mkdir(join(this.#options.dataDir, 'trust'), { recursive: true });
    await writeFileAtomic(this.#secureTimePath, JSON.stringify({ lastVerified: now.toISOString() }), PRIVATE);
    return verified;
  }

  get targetsUrl(): string {
    return this.#options.imageTargetsUrl;
  }

  /**
   * The state revision a verified image names: fetched by its consistent
   * snapshot name, capped, and checked against the length and hashes both
   * repositories agreed on before it is parsed.
   */
  async fetchRevision(image: VerifiedImage): Promise<StateRevision> {
    if (image.length > MAX_REVISION_BYTES)
      throw new UprollError('ENDLESS_DATA', `${image.path} is larger than a revision document may be`);
    const name = targetUrlPath(image.path, image.hashes['sha256'] ?? '');
    const bytes = await fetchCapped(
      joinUrl(this.#options.imageTargetsUrl, name),
      image.length,
      this.#options.floor,
    );
    if (!bytes)
      throw new UprollError('TARGET_NOT_FOUND', `the Image repository does not serve ${image.path}`);
    verifyTargetBytes(bytes, image, image.path);
    let document: unknown;
    try {
      document = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch {
      throw new UprollError('BAD_METADATA', `${image.path} is not JSON`);
    }
    return parseValue(stateRevisionSchema, document, image.path, 'BAD_METADATA');
  }

  /** The root version of each repository the device trusts now (it reports them to the Director). */
  async trustedRoots(): Promise<{ image: number; director: number } | undefined> {
    const version = async (repository: 'image' | 'director') => {
      const root = await metadataDirectory(this.#dir(repository)).load('root');
      return root ? new TrustedRepository(root, { name: repository }).root.signed.version : undefined;
    };
    const [image, director] = [await version('image'), await version('director')];
    return image && director ? { image, director } : undefined;
  }

  async #lastVerified(): Promise<Date | undefined> {
    const bytes = await readFile(this.#secureTimePath).catch(() => undefined);
    if (!bytes) return undefined;
    return new Date(parseJson(secureTimeSchema, bytes, { maxBytes: 1024, what: 'secure time' }).lastVerified);
  }
}

/** The Uptane client of a device identity, keeping its trust state under `dataDir`. */
export function uptaneClientFor(
  identity: Pick<AgentIdentity, 'device' | 'repositories' | 'imageRoot' | 'directorRoot'>,
  dataDir: string,
  options: Pick<UptaneClientOptions, 'clock' | 'floor'>,
): UptaneClient {
  return new UptaneClient({
    dataDir,
    device: identity.device,
    ...identity.repositories,
    imageRoot: identity.imageRoot,
    directorRoot: identity.directorRoot,
    ...options,
  });
}
