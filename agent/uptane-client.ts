import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { parseJson } from '../core/index.ts';
import { TrustedRepository } from '../core/tuf/index.ts';
import {
  fullVerification,
  verificationTime,
  type DeviceIdentity,
  type VerifiedImage,
} from '../core/uptane/index.ts';
import { writeFileAtomic } from '../services/fs/index.ts';
import { fetchCapped, joinUrl, metadataDirectory } from '../services/tuf/index.ts';

const secureTimeSchema = z.object({ lastVerified: z.iso.datetime() });

export interface UptaneClientOptions {
  dataDir: string;
  device: DeviceIdentity;
  /** Metadata base URLs: the Image repository's and this device's Director folder. */
  imageMetadataUrl: string;
  directorMetadataUrl: string;
  /** Trust anchors from the provisioning bundle, used until a newer root is trusted. */
  imageRoot: Uint8Array;
  directorRoot: Uint8Array;
  clock?: () => Date;
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
    const now = verificationTime((this.#options.clock ?? (() => new Date()))(), await this.#lastVerified());
    const access = async (repository: 'image' | 'director', url: string, anchor: Uint8Array) => {
      const cache = metadataDirectory(this.#dir(repository));
      const trusted = await cache.load('root');
      if (!trusted) await cache.save('root', anchor); // from now on the root only moves by verified rotation
      return {
        repository: new TrustedRepository(trusted ?? anchor, { name: repository }),
        fetch: (file: string, max: number) => fetchCapped(joinUrl(url, file), max),
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
    await writeFileAtomic(this.#secureTimePath, JSON.stringify({ lastVerified: now.toISOString() }));
    return verified;
  }

  async #lastVerified(): Promise<Date | undefined> {
    const bytes = await readFile(this.#secureTimePath).catch(() => undefined);
    if (!bytes) return undefined;
    return new Date(parseJson(secureTimeSchema, bytes, { maxBytes: 1024, what: 'secure time' }).lastVerified);
  }
}
