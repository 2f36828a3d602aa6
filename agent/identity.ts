import { createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { parseJson, UprollError } from '../core/index.ts';
import { inMemorySigner, type Signer } from '../core/tuf/index.ts';
import type { DeviceIdentity } from '../core/uptane/index.ts';

const urlSchema = z.url({ protocol: /^https?$/ });

/** `bundle.json`, as `uproll devices provision` writes it. */
export const deviceBundleSchema = z.object({
  deviceId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  ecus: z
    .array(z.object({ serial: z.string().min(1).max(128), hardwareId: z.string().min(1).max(128) }))
    .min(1)
    .max(16),
  files: z.object({
    deviceKey: z.string(),
    tlsKey: z.string(),
    tlsCertificate: z.string(),
    caCertificate: z.string(),
    imageRoot: z.string(),
    directorRoot: z.string(),
    natsSeed: z.string().optional(),
    serverCa: z.string().optional(),
  }),
  /** `tls`: verify the server with `files.serverCa`; `mtls`: present the device certificate too. */
  nats: z
    .object({ servers: z.string(), tls: z.boolean().optional(), mtls: z.boolean().optional() })
    .optional(),
  repositories: z
    .object({ imageMetadataUrl: urlSchema, imageTargetsUrl: urlSchema, directorMetadataUrl: urlSchema })
    .optional(),
});
export type DeviceBundleFile = z.infer<typeof deviceBundleSchema>;

/** Everything an agent needs to be this device: identity, keys, trust anchors, where the fleet is. */
export interface AgentIdentity {
  device: DeviceIdentity;
  deviceKey: Signer;
  imageRoot: Uint8Array;
  directorRoot: Uint8Array;
  repositories: { imageMetadataUrl: string; imageTargetsUrl: string; directorMetadataUrl: string };
  /** The CA of the servers' certificates (HTTPS repositories, NATS), when the bundle carries one. */
  serverCaFile?: string;
  nats?: {
    servers: string;
    nkeySeed: string;
    /** The CA of NATS's server certificate; the device's own certificate too for mTLS. */
    tls?: { caFile: string; certFile?: string; keyFile?: string };
  };
}

const MAX_FILE_BYTES = 1024 * 1024;

/**
 * Reads a device's identity bundle directory. Every file is size-capped and
 * checked; a missing or bad one is a clear INVALID_INPUT naming it (and
 * never quoting a key).
 */
export async function loadDeviceBundle(
  dir: string,
  overrides: Partial<AgentIdentity['repositories']> & { natsServers?: string } = {},
): Promise<AgentIdentity> {
  const read = async (name: string) => {
    const bytes = await readFile(join(dir, name)).catch((err: NodeJS.ErrnoException) => {
      throw new UprollError('INVALID_INPUT', `cannot read ${join(dir, name)}: ${err.code ?? err.message}`);
    });
    if (bytes.byteLength > MAX_FILE_BYTES)
      throw new UprollError('INPUT_TOO_LARGE', `${join(dir, name)} is larger than ${MAX_FILE_BYTES} bytes`);
    return bytes;
  };
  const bundle = parseJson(deviceBundleSchema, await read('bundle.json'), {
    maxBytes: MAX_FILE_BYTES,
    what: join(dir, 'bundle.json'),
  });
  let key;
  try {
    key = createPrivateKey(await read(bundle.files.deviceKey));
  } catch (err) {
    if (err instanceof UprollError) throw err;
    throw new UprollError('INVALID_INPUT', `${join(dir, bundle.files.deviceKey)} is not a private key`);
  }
  const repositories = { ...bundle.repositories, ...definedOnly(overrides) };
  const { imageMetadataUrl, imageTargetsUrl, directorMetadataUrl } = repositories;
  if (!imageMetadataUrl || !imageTargetsUrl || !directorMetadataUrl)
    throw new UprollError(
      'INVALID_INPUT',
      `${dir}: the bundle names no repository URLs; pass --image-url and --director-url`,
    );
  const servers = overrides.natsServers ?? bundle.nats?.servers;
  const seed = bundle.files.natsSeed;
  return {
    device: { deviceId: bundle.deviceId, ecus: bundle.ecus },
    deviceKey: inMemorySigner(key),
    imageRoot: await read(bundle.files.imageRoot),
    directorRoot: await read(bundle.files.directorRoot),
    repositories: { imageMetadataUrl, imageTargetsUrl, directorMetadataUrl },
    ...(bundle.files.serverCa ? { serverCaFile: join(dir, bundle.files.serverCa) } : {}),
    ...(servers && seed
      ? {
          nats: {
            servers,
            nkeySeed: (await read(seed)).toString('utf8').trim(),
            ...(bundle.nats?.tls
              ? {
                  tls: {
                    // The servers' CA; a bundle from before there was one names the fleet CA only.
                    caFile: join(dir, bundle.files.serverCa ?? bundle.files.caCertificate),
                    ...(bundle.nats.mtls
                      ? {
                          certFile: join(dir, bundle.files.tlsCertificate),
                          keyFile: join(dir, bundle.files.tlsKey),
                        }
                      : {}),
                  },
                }
              : {}),
          },
        }
      : {}),
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
