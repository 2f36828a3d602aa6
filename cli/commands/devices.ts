import { join, resolve } from 'node:path';
import { revokeNatsDevice } from '../../services/dev-stack/index.ts';
import { DirectorRepository } from '../../services/director/index.ts';
import { ImageRepository } from '../../services/image-repo/index.ts';
import { provisionDeviceBundle } from '../../services/provisioning/index.ts';
import { stateDirOf, UsageError, type Command } from '../command.ts';
import { passphraseOptions, readPassphrase } from '../passphrase.ts';
import { directorDir, fleetCaPath, imageRepoDir, locationOptions, openKeyStore } from '../locations.ts';
import { actorOf, byOption, recordAudit } from '../audit.ts';
import { systemClock } from '../system-clock.ts';

export const devicesProvision: Command = {
  name: 'devices provision',
  summary:
    "Create a device's identity bundle (keys, certificate, NATS credentials, trusted roots) and register it.",
  usage:
    'uproll devices provision DEVICE_ID --hardware-id ID [--ecu-serial S] [--out DIR] [--image-url URL --director-url URL] [--force] [--no-nats] [--json]',
  details:
    'Secrets in the bundle are written with mode 0600. The fleet CA and the Director sign with online keys.\n' +
    'A device id is provisioned once: --force gives a provisioned device a new identity; the Director\n' +
    "keeps counting its metadata versions up (the device trusts them), and the device's earlier NATS\n" +
    'credentials keep working until `uproll devices revoke DEVICE_ID`. The NATS credentials (nats.creds, a\n' +
    "user JWT confined to the device's own subjects) are signed with the deployment's NATS identity, from\n" +
    '`uproll nats init` or `uproll dev up`; the server needs no change or reload to let the device in.\n' +
    'Without an identity, provisioning is refused (NATS_NOT_INITIALIZED) unless --no-nats asks for a\n' +
    'bundle without NATS credentials.',
  options: {
    ...locationOptions,
    'hardware-id': { type: 'string', description: "the device's hardware id" },
    'ecu-serial': { type: 'string', description: 'serial of its primary ECU (default DEVICE_ID-primary)' },
    out: { type: 'string', description: 'bundle directory (default <state-dir>/devices/DEVICE_ID)' },
    'image-url': { type: 'string', description: 'base URL of the Image repository as the device reaches it' },
    'director-url': { type: 'string', description: 'base URL of the Director as the device reaches it' },
    'nats-url': {
      type: 'string',
      description:
        "NATS as the device reaches it, e.g. tls://updates.example.com:14222 (default: the deployment's)",
    },
    force: {
      type: 'boolean',
      description: 'provision a device id again (a new identity), over its bundle directory',
    },
    'no-nats': {
      type: 'boolean',
      description: 'a bundle without NATS credentials (no NATS identity needed)',
    },
    ...passphraseOptions('', 'online key'),
    ...byOption,
  },
  async run({ values, positionals }, io) {
    const by = actorOf(values);
    const [deviceId] = positionals;
    const hardwareId = values['hardware-id'];
    if (!deviceId || typeof hardwareId !== 'string')
      throw new UsageError('name the DEVICE_ID and its --hardware-id');
    const stateDir = stateDirOf(values);
    const store = openKeyStore(values);
    const out = typeof values['out'] === 'string' ? values['out'] : join(stateDir, 'devices', deviceId);
    const bundle = await provisionDeviceBundle({
      deviceId,
      hardwareId,
      ...(typeof values['ecu-serial'] === 'string' ? { ecuSerial: values['ecu-serial'] } : {}),
      out,
      store,
      onlinePassphrase: await readPassphrase(values, '', 'online key'),
      director: new DirectorRepository(directorDir(values)),
      image: new ImageRepository(imageRepoDir(values)),
      caCertificate: fleetCaPath(store.dir),
      stateDir,
      now: new Date(),
      force: values.force === true,
      withoutNats: values['no-nats'] === true,
      ...natsUrlOf(values['nats-url']),
      ...repositoryUrls(values['image-url'], values['director-url']),
    });
    // The fleet view lists the device from now on, before its first update.
    await recordAudit(values, io, by, {
      aggregate: 'device',
      aggregateId: bundle.deviceId,
      type: 'device.provisioned',
      data: {
        summary: `provisioned (${hardwareId})${bundle.reprovisioned ? ', a new identity' : ''}`,
        hardwareId,
        reprovisioned: bundle.reprovisioned,
      },
    });
    const notes = [
      ...(bundle.reprovisioned
        ? [
            `a new identity: its earlier NATS credentials keep working until \`uproll devices revoke ${deviceId}\``,
          ]
        : []),
      ...(bundle.nats ? [] : ['no NATS credentials, as asked']),
    ];
    // Where the bundle is: what to copy to the device (its agent's --bundle).
    io.out(
      values.json
        ? JSON.stringify({ ...bundle, bundleDir: resolve(out) })
        : `provisioned ${bundle.deviceId} (${bundle.ecus[0]?.hardwareId}): its bundle is in ${resolve(out)}${notes.map((n) => `; ${n}`).join('')}`,
    );
    return 0;
  },
};

export const devicesRevoke: Command = {
  name: 'devices revoke',
  summary: "Revoke a device's NATS credentials: the server drops its connections and refuses it from now on.",
  usage: 'uproll devices revoke DEVICE_ID [--json]',
  details:
    'Revokes every NATS user of the device (each bundle it was given) in the account and sends the account\n' +
    "to the deployment's NATS as the system user (no config change, no reload): the server closes the\n" +
    "device's connections and refuses it, also after a restart. When NATS cannot be reached the revocation\n" +
    'is recorded and the command fails with NATS_UPDATE_FAILED: `uproll nats push` sends it later. The\n' +
    'device stays registered with the Director, marked revoked: rollouts to a hardware id or a tag leave it\n' +
    'out, one that lists it is refused (DEVICE_REVOKED); `devices provision --force` gives it a new identity.',
  options: { ...locationOptions, ...byOption },
  async run({ values, positionals }, io) {
    const by = actorOf(values);
    const [deviceId] = positionals;
    if (!deviceId || positionals.length > 1) throw new UsageError('name one DEVICE_ID');
    const { keys, notSent } = await revokeNatsDevice(stateDirOf(values), deviceId, systemClock);
    // Credentials first: a lost device is cut off even when the Director does not know it.
    const director = new DirectorRepository(directorDir(values));
    if (await director.knows(deviceId)) await director.markRevoked(deviceId, systemClock());
    const noun = `${keys} ${keys === 1 ? 'key' : 'keys'}`;
    await recordAudit(values, io, by, {
      aggregate: 'device',
      aggregateId: deviceId,
      type: 'device.revoked',
      data: { summary: `NATS credentials revoked (${noun}${notSent ? ', not sent to NATS yet' : ''})`, keys },
    });
    if (notSent) throw notSent;
    io.out(
      values.json
        ? JSON.stringify({ deviceId, revokedKeys: keys })
        : `revoked the NATS credentials of ${deviceId} (${noun})`,
    );
    return 0;
  },
};

function natsUrlOf(url: unknown): { natsUrl?: string } {
  if (url === undefined) return {};
  if (typeof url !== 'string' || !URL.canParse(url) || !/^(nats|tls):$/.test(new URL(url).protocol))
    throw new UsageError(`--nats-url must be a nats:// or tls:// URL, got ${JSON.stringify(url)}`);
  return { natsUrl: url };
}

function repositoryUrls(image: unknown, director: unknown) {
  if (image === undefined && director === undefined) return {};
  if (typeof image !== 'string' || typeof director !== 'string')
    throw new UsageError('--image-url and --director-url go together');
  for (const url of [image, director])
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
      throw new UsageError(`${url} is not an http(s) URL`);
  return { urls: { image, director } };
}
