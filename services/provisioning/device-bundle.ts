import { generateKeyPairSync } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertToken, UprollError } from '../../core/index.ts';
import { tufPublicKey } from '../../core/tuf/index.ts';
import { issueDeviceCertificate, roleKeys, roleSigners, type KeyStore } from '../../keys/index.ts';
import { deploymentNatsTls, localNatsMtls, natsServersOf, provisionNatsDevice } from '../dev-stack/index.ts';
import { serverCaFile } from '../tls/index.ts';
import { readNatsIdentity } from '../nats-auth/index.ts';
import type { DirectorRepository } from '../director/index.ts';
import { writeFileAtomic } from '../../adapters/fs/index.ts';
import type { ImageRepository } from '../image-repo/index.ts';

/** What a device needs to join, written as `bundle.json` beside its keys. */
/**
 * The file names in a device bundle, as provisioning writes them; bundle.json names each one, so
 * the agent reads them from there. `natsSeed` and `serverCa` are written only when they apply.
 */
export const BUNDLE_FILES = {
  deviceKey: 'device.key',
  tlsKey: 'tls.key',
  tlsCertificate: 'tls.crt',
  caCertificate: 'ca.crt',
  imageRoot: 'image-root.json',
  directorRoot: 'director-root.json',
  natsSeed: 'nats.creds',
  serverCa: 'server-ca.crt',
} as const;

export interface DeviceBundle {
  deviceId: string;
  ecus: { serial: string; hardwareId: string }[];
  files: {
    deviceKey: string;
    tlsKey: string;
    tlsCertificate: string;
    caCertificate: string;
    imageRoot: string;
    directorRoot: string;
    natsSeed?: string;
    /** The CA of the servers' certificates (NATS, the repositories), when they have one. */
    serverCa?: string;
  };
  /** `tls`: NATS accepts TLS only, verified with `files.serverCa`; `mtls`: the device presents its certificate. */
  nats?: { servers: string; tls?: boolean; mtls?: boolean };
  /** Where the device finds its metadata and targets (an agent may also be told on its command line). */
  repositories?: { imageMetadataUrl: string; imageTargetsUrl: string; directorMetadataUrl: string };
}

const SECRET = 0o600;

/**
 * Creates a device's identity bundle: its Ed25519 key (signs version
 * reports), an RSA key and a certificate from the fleet CA (mTLS), its NATS
 * credentials (a user JWT signed with the deployment's NATS identity, unless
 * `withoutNats`), and the current trusted roots of both repositories. The
 * device is registered with the Director. The bundle is all a device needs
 * to join.
 *
 * A device id is provisioned once (DEVICE_EXISTS) unless `force`: then the
 * device gets a new identity, the Director's metadata for it counts on from
 * the versions the device trusts, and its earlier NATS credentials keep
 * working until they are revoked.
 */
export async function provisionDeviceBundle(input: {
  deviceId: string;
  hardwareId: string;
  ecuSerial?: string;
  out: string;
  store: KeyStore;
  onlinePassphrase: string;
  director: DirectorRepository;
  image: ImageRepository;
  caCertificate: string;
  stateDir: string;
  now: Date;
  /** Base URLs of the Image repository and the Director as devices reach them. */
  urls?: { image: string; director: string };
  /** Provision a device id again (a new identity), or into a bundle directory that is not empty. */
  force?: boolean;
  /** A bundle without NATS credentials, asked for explicitly: such a device cannot reach the fleet over NATS. */
  withoutNats?: boolean;
  /** NATS as devices reach it (another host name or address than the deployment's own URL). */
  natsUrl?: string;
}): Promise<DeviceBundle & { reprovisioned: boolean }> {
  const deviceId = assertToken(input.deviceId, 'device id');
  // Everything that can refuse is checked before anything is written.
  const reprovisioned = await input.director.knows(deviceId);
  if (reprovisioned && !input.force)
    throw new UprollError(
      'DEVICE_EXISTS',
      `device ${deviceId} is provisioned already: --force gives it a new identity (its current credentials keep working until \`uproll devices revoke ${deviceId}\`)`,
    );
  if (!input.force && (await readdir(input.out).catch(() => [])).length > 0) {
    throw new UprollError('INVALID_INPUT', `${input.out} is not empty: a bundle is never overwritten`);
  }
  const natsServers = input.withoutNats
    ? undefined
    : (input.natsUrl ?? (await deploymentNats(input.stateDir)));
  const serverCa = await serverCaFile(input.stateDir);
  await mkdir(input.out, { recursive: true, mode: 0o700 });
  const ecus = [{ serial: input.ecuSerial ?? `${deviceId}-primary`, hardwareId: input.hardwareId }];

  const identity = generateKeyPairSync('ed25519').privateKey;
  const tls = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const [ca] = await roleKeys(input.store, 'fleet', 'ca');
  if (!ca)
    throw new UprollError('UNKNOWN_KEY', `no fleet CA key in ${input.store.dir}: run uproll keys init`);
  const caCertificate = await readFile(input.caCertificate, 'utf8');
  const certificate = issueDeviceCertificate({
    caKey: await input.store.privateKey(ca.keyId, input.onlinePassphrase),
    caCertificate,
    deviceId,
    deviceKey: tls,
    now: input.now,
  });
  await input.director.register(
    { deviceId, ecus, publicKey: tufPublicKey(identity) },
    {
      targets: await roleSigners(input.store, 'director', 'targets', input.onlinePassphrase),
      snapshot: await roleSigners(input.store, 'director', 'snapshot', input.onlinePassphrase),
      timestamp: await roleSigners(input.store, 'director', 'timestamp', input.onlinePassphrase),
    },
    input.now,
  );

  const { natsSeed, serverCa: serverCaName, ...always } = BUNDLE_FILES;
  const files: DeviceBundle['files'] = { ...always };
  const write = (name: string, data: string | Uint8Array, mode?: number) =>
    writeFileAtomic(join(input.out, name), data, { mode });
  await write(files.deviceKey, identity.export({ type: 'pkcs8', format: 'pem' }), SECRET);
  await write(files.tlsKey, tls.export({ type: 'pkcs8', format: 'pem' }), SECRET);
  await write(files.tlsCertificate, certificate);
  await write(files.caCertificate, caCertificate);
  if (serverCa) {
    files.serverCa = serverCaName;
    await write(files.serverCa, await readFile(serverCa));
  }
  await write(files.imageRoot, await input.image.currentRootBytes());
  await write(files.directorRoot, await input.director.currentRoot());

  let nats: DeviceBundle['nats'];
  if (natsServers) {
    const { credentials } = await provisionNatsDevice(input.stateDir, deviceId, {
      clock: () => input.now,
      keepExisting: reprovisioned,
    });
    files.natsSeed = natsSeed;
    await write(files.natsSeed, credentials, SECRET);
    const natsTls = await deploymentNatsTls(input.stateDir);
    const mtls = await localNatsMtls(input.stateDir);
    nats = { servers: natsServers, ...(natsTls ? { tls: true } : {}), ...(mtls ? { mtls } : {}) };
  }
  const base = (url: string) => url.replace(/\/?$/, '/');
  const repositories = input.urls && {
    imageMetadataUrl: `${base(input.urls.image)}metadata/`,
    imageTargetsUrl: `${base(input.urls.image)}targets/`,
    directorMetadataUrl: `${base(input.urls.director)}devices/${deviceId}/metadata/`,
  };
  const bundle: DeviceBundle = {
    deviceId,
    ecus,
    files,
    ...(nats ? { nats } : {}),
    ...(repositories ? { repositories } : {}),
  };
  await write('bundle.json', `${JSON.stringify(bundle, null, 2)}\n`);
  return { ...bundle, reprovisioned };
}

/**
 * Where the device will reach NATS, refused with NATS_NOT_INITIALIZED when
 * there is no identity to sign its credentials with, or no address for them.
 */
async function deploymentNats(stateDir: string): Promise<string> {
  const identity = await readNatsIdentity(stateDir);
  const servers = identity && (await natsServersOf(stateDir, identity));
  if (!servers)
    throw new UprollError(
      'NATS_NOT_INITIALIZED',
      `no NATS ${identity ? 'address' : 'identity'} in ${stateDir}, so no NATS credentials for the device: run \`uproll nats init --url URL\` (your own nats-server) or \`uproll dev up\` (the local stack) first, or ask for a bundle without NATS (--no-nats)`,
    );
  return servers;
}
