import { revisionTargetPath } from '../../core/index.ts';
import { serviceIdentity } from '../../services/dev-stack/index.ts';
import {
  startProtocolFleet,
  type DeviceKeys,
  type ProtocolFleet,
  type ProtocolFleetOptions,
  type SimulatedRepositories,
} from '../../sim/index.ts';

/**
 * Enrolls `count` devices named `<prefix>-NNN` with the simulated Director
 * and answers for them at the protocol level (one NATS connection with the
 * services' rights of the stack in `stateDir`).
 */
export async function startFleetOf(options: {
  count: number;
  prefix: string;
  repos: SimulatedRepositories;
  stateDir: string;
  natsUrl: string;
  unhealthy?: ProtocolFleetOptions['unhealthy'];
}): Promise<{ devices: string[]; fleet: ProtocolFleet }> {
  const { repos } = options;
  const width = String(options.count - 1).length;
  const devices = Array.from(
    { length: options.count },
    (_, i) => `${options.prefix}-${String(i).padStart(width, '0')}`,
  );
  const keys = new Map<string, DeviceKeys>();
  for (let next = 0; next < devices.length; next += 16) {
    await Promise.all(
      devices.slice(next, next + 16).map(async (deviceId) => {
        const identity = await repos.enroll(deviceId);
        keys.set(deviceId, { ecuSerial: identity.device.ecus[0]!.serial, key: identity.deviceKey });
      }),
    );
  }
  const fleet = await startProtocolFleet({
    servers: options.natsUrl,
    nkeySeed: (await serviceIdentity(options.stateDir)).seed,
    devices: keys,
    releasedImage: async (revision) => {
      const target = (await repos.image.releasedTargets())[revisionTargetPath(revision)];
      if (!target) throw new Error(`revision ${revision} is not released`);
      return { length: target.length, hashes: target.hashes };
    },
    ...(options.unhealthy ? { unhealthy: options.unhealthy } : {}),
  });
  return { devices, fleet };
}
