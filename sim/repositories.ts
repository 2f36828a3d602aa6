import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HealthCheckInput, OstreeCommit } from '../core/index.ts';
import { inMemorySigner, tufPublicKey, type Signer } from '../core/tuf/index.ts';
import type { AgentIdentity } from '../agent/index.ts';
import { assignRevision, DirectorRepository, directorReleases } from '../services/director/index.ts';
import { writeFileAtomic } from '../adapters/fs/index.ts';
import { BUNDLE_FILES } from '../services/provisioning/index.ts';
import {
  ImageRepository,
  startRepositoryServer,
  type AppRelease,
  type RepositoryServer,
} from '../services/image-repo/index.ts';

export const SIM_HARDWARE_ID = 'sim-board';

const newKey = () => generateKeyPairSync('ed25519').privateKey;
const newSigner = () => inMemorySigner(newKey());
const publicKeys = (signers: readonly Signer[]) => signers.map((s) => s.publicKey);

/**
 * An Image repository and a Director with keys that live only in memory,
 * served over HTTP on 127.0.0.1: what the demo, the fleet simulator, the
 * tests and the benchmarks update devices from. A release is a state
 * revision; assigning it to a device is a Director targets update.
 */
export async function startSimulatedRepositories(dir: string, now: () => Date = () => new Date()) {
  const imageSigners = {
    root: [newSigner()],
    targets: [newSigner()],
    releases: [newSigner()],
    snapshot: [newSigner()],
    timestamp: [newSigner()],
  };
  const directorRoot = [newSigner()];
  const directorKeys: DirectorOnlineKeys = { targets: newKey(), snapshot: newKey(), timestamp: newKey() };
  const directorSigners = directorSignersOf(directorKeys);
  const image = new ImageRepository(join(dir, 'image'));
  await image.initialize(
    {
      root: publicKeys(imageSigners.root),
      rootThreshold: 1,
      targets: publicKeys(imageSigners.targets),
      releases: publicKeys(imageSigners.releases),
      snapshot: publicKeys(imageSigners.snapshot),
      timestamp: publicKeys(imageSigners.timestamp),
    },
    imageSigners,
    now(),
  );
  const director = new DirectorRepository(join(dir, 'director'));
  await director.initialize(
    {
      root: publicKeys(directorRoot),
      rootThreshold: 1,
      targets: publicKeys(directorSigners.targets),
      snapshot: publicKeys(directorSigners.snapshot),
      timestamp: publicKeys(directorSigners.timestamp),
    },
    directorRoot,
    now(),
  );
  const servers: RepositoryServer[] = [
    await startRepositoryServer({ dir: image.dir }),
    await startRepositoryServer({ dir: director.dir, areas: ['devices'] }),
  ];
  const [imageServer, directorServer] = servers as [RepositoryServer, RepositoryServer];
  let releaseCounter = 0;

  return {
    image,
    director,
    imageSigners,
    directorSigners,
    imageServer,
    directorMetadataUrl: (deviceId: string) => `${directorServer.url}/devices/${deviceId}/metadata/`,

    /** Releases a state revision (release counter: one above the last, unless given). */
    async publish(
      name: string,
      artifacts: readonly { path: string; bytes: Uint8Array; executable?: boolean; image?: 'rootfs' }[],
      options: {
        releaseCounter?: number;
        hardwareIds?: readonly string[];
        health?: HealthCheckInput;
        ostree?: OstreeCommit;
        apps?: readonly AppRelease[];
      } = {},
    ) {
      releaseCounter = options.releaseCounter ?? releaseCounter + 1;
      return image.publishRevision(
        {
          name,
          artifacts,
          hardwareIds: options.hardwareIds ?? [SIM_HARDWARE_ID],
          releaseCounter,
          ...(options.health ? { health: options.health } : {}),
          ...(options.ostree ? { ostree: options.ostree } : {}),
          ...(options.apps ? { apps: options.apps } : {}),
        },
        imageSigners,
        now(),
      );
    },

    /** Registers a device with the Director and returns its identity (and writes a bundle to `bundleDir`). */
    async enroll(
      deviceId: string,
      options: {
        hardwareId?: string;
        nats?: { servers: string; seed: string; tls?: { caFile: string } };
        bundleDir?: string;
        /** The device's Ed25519 key (generated when not given). */
        key?: KeyObject;
      } = {},
    ): Promise<AgentIdentity> {
      const key = options.key ?? generateKeyPairSync('ed25519').privateKey;
      const ecus = [{ serial: `${deviceId}-primary`, hardwareId: options.hardwareId ?? SIM_HARDWARE_ID }];
      await director.register({ deviceId, ecus, publicKey: tufPublicKey(key) }, directorSigners, now());
      const identity: AgentIdentity = {
        device: { deviceId, ecus },
        deviceKey: inMemorySigner(key),
        imageRoot: await image.currentRootBytes(),
        directorRoot: await director.currentRoot(),
        repositories: {
          imageMetadataUrl: imageServer.metadataUrl,
          imageTargetsUrl: imageServer.targetsUrl,
          directorMetadataUrl: `${directorServer.url}/devices/${deviceId}/metadata/`,
        },
        ...(options.nats
          ? {
              nats: {
                servers: options.nats.servers,
                nkeySeed: options.nats.seed,
                ...(options.nats.tls ? { tls: options.nats.tls } : {}),
              },
            }
          : {}),
      };
      if (options.bundleDir) {
        const bundleDir = options.bundleDir;
        await mkdir(bundleDir, { recursive: true, mode: 0o700 });
        const write = (name: string, data: string | Uint8Array, mode = 0o644) =>
          writeFileAtomic(join(bundleDir, name), data, { mode });
        await write('device.key', key.export({ type: 'pkcs8', format: 'pem' }), 0o600);
        await write('image-root.json', identity.imageRoot);
        await write('director-root.json', identity.directorRoot);
        const { natsSeed, serverCa, ...bundleFiles } = BUNDLE_FILES;
        if (options.nats) await write(natsSeed, `${options.nats.seed}\n`, 0o600);
        if (options.nats?.tls) await write(serverCa, await readFile(options.nats.tls.caFile));
        const bundle = {
          deviceId,
          ecus,
          files: {
            ...bundleFiles,
            ...(options.nats ? { natsSeed } : {}),
            ...(options.nats?.tls ? { serverCa } : {}),
          },
          ...(options.nats
            ? { nats: { servers: options.nats.servers, ...(options.nats.tls ? { tls: true } : {}) } }
            : {}),
          repositories: identity.repositories,
        };
        await write('bundle.json', `${JSON.stringify(bundle, null, 2)}\n`);
      }
      return identity;
    },

    /**
     * The Director's online keys as PKCS#8 PEM, for a worker in another
     * process (`openSimulatedReleases`); test keys, made by this run.
     */
    directorOnlineKeys(): Record<keyof DirectorOnlineKeys, string> {
      const pem = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();
      return {
        targets: pem(directorKeys.targets),
        snapshot: pem(directorKeys.snapshot),
        timestamp: pem(directorKeys.timestamp),
      };
    },

    /** What a rollout worker needs from these repositories. */
    releases: directorReleases({ director, image, signers: directorSigners, clock: now }),

    /** Tells a device, through the Director, to install a released revision (for the update `rolloutId`). */
    assign(deviceId: string, revision: string, rolloutId?: string): Promise<void> {
      return assignRevision({
        director,
        image,
        deviceId,
        revision,
        ...(rolloutId ? { rolloutId } : {}),
        signers: directorSigners,
        now: now(),
      });
    },

    async close(): Promise<void> {
      await Promise.all(servers.map((server) => server.close()));
    },
  };
}

export type SimulatedRepositories = Awaited<ReturnType<typeof startSimulatedRepositories>>;

interface DirectorOnlineKeys {
  targets: KeyObject;
  snapshot: KeyObject;
  timestamp: KeyObject;
}

function directorSignersOf(keys: DirectorOnlineKeys) {
  return {
    targets: [inMemorySigner(keys.targets)],
    snapshot: [inMemorySigner(keys.snapshot)],
    timestamp: [inMemorySigner(keys.timestamp)],
  };
}

/**
 * The repositories `startSimulatedRepositories` made in `dir`, opened by a
 * rollout worker in another process with the Director's online keys
 * (`directorOnlineKeys`): several workers assigning revisions to one fleet.
 */
export function openSimulatedReleases(
  dir: string,
  keys: Record<keyof DirectorOnlineKeys, string>,
  now: () => Date = () => new Date(),
) {
  const director = new DirectorRepository(join(dir, 'director'));
  const image = new ImageRepository(join(dir, 'image'));
  const signers = directorSignersOf({
    targets: createPrivateKey(keys.targets),
    snapshot: createPrivateKey(keys.snapshot),
    timestamp: createPrivateKey(keys.timestamp),
  });
  return { director, releases: directorReleases({ director, image, signers, clock: now }) };
}
