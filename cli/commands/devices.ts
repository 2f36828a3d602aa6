import { join } from 'node:path';
import { DirectorRepository } from '../../services/director/index.ts';
import { ImageRepository } from '../../services/image-repo/index.ts';
import { provisionDeviceBundle } from '../../services/provisioning/index.ts';
import { stateDirOf, UsageError, type Command } from '../command.ts';
import { passphraseOptions, readPassphrase } from '../passphrase.ts';
import { directorDir, fleetCaPath, imageRepoDir, locationOptions, openKeyStore } from '../locations.ts';

export const devicesProvision: Command = {
  name: 'devices provision',
  summary:
    "Create a device's identity bundle (keys, certificate, NATS credentials, trusted roots) and register it.",
  usage:
    'uproll devices provision DEVICE_ID --hardware-id ID [--ecu-serial S] [--out DIR] [--image-url URL --director-url URL] [--json]',
  details:
    'Secrets in the bundle are written with mode 0600. The fleet CA and the Director sign with online keys.',
  options: {
    ...locationOptions,
    'hardware-id': { type: 'string', description: "the device's hardware id" },
    'ecu-serial': { type: 'string', description: 'serial of its primary ECU (default DEVICE_ID-primary)' },
    out: { type: 'string', description: 'bundle directory (default <state-dir>/devices/DEVICE_ID)' },
    'image-url': { type: 'string', description: 'base URL of the Image repository as the device reaches it' },
    'director-url': { type: 'string', description: 'base URL of the Director as the device reaches it' },
    ...passphraseOptions('', 'online key'),
  },
  async run({ values, positionals }, io) {
    const [deviceId] = positionals;
    const hardwareId = values['hardware-id'];
    if (!deviceId || typeof hardwareId !== 'string')
      throw new UsageError('name the DEVICE_ID and its --hardware-id');
    const stateDir = stateDirOf(values);
    const store = openKeyStore(values);
    const bundle = await provisionDeviceBundle({
      deviceId,
      hardwareId,
      ...(typeof values['ecu-serial'] === 'string' ? { ecuSerial: values['ecu-serial'] } : {}),
      out: typeof values['out'] === 'string' ? values['out'] : join(stateDir, 'devices', deviceId),
      store,
      onlinePassphrase: await readPassphrase(values, '', 'online key'),
      director: new DirectorRepository(directorDir(values)),
      image: new ImageRepository(imageRepoDir(values)),
      caCertificate: fleetCaPath(store.dir),
      stateDir,
      now: new Date(),
      ...repositoryUrls(values['image-url'], values['director-url']),
    });
    io.out(
      values.json
        ? JSON.stringify(bundle)
        : `provisioned ${bundle.deviceId} (${bundle.ecus[0]?.hardwareId})${bundle.nats ? '' : '; no local stack, so no NATS credentials'}`,
    );
    return 0;
  },
};

function repositoryUrls(image: unknown, director: unknown) {
  if (image === undefined && director === undefined) return {};
  if (typeof image !== 'string' || typeof director !== 'string')
    throw new UsageError('--image-url and --director-url go together');
  for (const url of [image, director])
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
      throw new UsageError(`${url} is not an http(s) URL`);
  return { urls: { image, director } };
}
