import { localNatsTls, serviceCredentials } from '../../services/dev-stack/index.ts';
import {
  enrollDevices,
  releasedImageOf,
  startProtocolFleet,
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
  delayMs?: ProtocolFleetOptions['delayMs'];
  offline?: ProtocolFleetOptions['offline'];
  observer?: ProtocolFleetOptions['observer'];
}): Promise<{ devices: string[]; fleet: ProtocolFleet }> {
  const width = String(options.count - 1).length;
  const devices = Array.from(
    { length: options.count },
    (_, i) => `${options.prefix}-${String(i).padStart(width, '0')}`,
  );
  const fleet = await startProtocolFleet({
    servers: options.natsUrl,
    nkeySeed: await serviceCredentials(options.stateDir),
    tls: await localNatsTls(options.stateDir),
    devices: await enrollDevices(options.repos, devices),
    releasedImage: releasedImageOf(options.repos),
    ...(options.unhealthy ? { unhealthy: options.unhealthy } : {}),
    ...(options.delayMs ? { delayMs: options.delayMs } : {}),
    ...(options.offline ? { offline: options.offline } : {}),
    ...(options.observer ? { observer: options.observer } : {}),
  });
  return { devices, fleet };
}
