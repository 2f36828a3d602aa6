import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AppSupervisor,
  ObjectStore,
  startDeviceAgent,
  type DeviceAgent,
  type HealthCheck,
} from '../agent/index.ts';
import { localNatsTls, provisionNatsDevices } from '../services/dev-stack/index.ts';
import type { SimulatedRepositories } from './repositories.ts';

export interface SimulatedDevice {
  deviceId: string;
  /** Default: the simulated repositories' SIM_HARDWARE_ID. */
  hardwareId?: string;
  healthCheck?: HealthCheck;
}

export interface SimulatedFleet {
  agents: DeviceAgent[];
  dataDirOf(deviceId: string): string;
  /** Stops the agents; the containers of their apps run on, as on a real device ({@link deleteContainersUnder}). */
  stop(): Promise<void>;
}

/**
 * Many device agents in one process, each enrolled with the Director, with
 * its own NATS user (provisioned on the local stack, so it is confined to
 * its own subjects exactly like a real device) and its own data directory.
 */
export async function startSimulatedFleet(options: {
  stateDir: string;
  dataRoot: string;
  natsServers: string;
  repositories: SimulatedRepositories;
  devices: readonly SimulatedDevice[];
  log?: (line: string) => void;
}): Promise<SimulatedFleet> {
  const dataDirOf = (deviceId: string) => join(options.dataRoot, deviceId);
  const agents: DeviceAgent[] = [];
  const credentials = await provisionNatsDevices(
    options.stateDir,
    options.devices.map((d) => d.deviceId),
    { clock: () => new Date() },
  );
  const tls = await localNatsTls(options.stateDir);
  try {
    for (const [i, device] of options.devices.entries()) {
      const { credentials: seed } = credentials[i] as (typeof credentials)[number];
      await mkdir(dataDirOf(device.deviceId), { recursive: true });
      const identity = await options.repositories.enroll(device.deviceId, {
        nats: { servers: options.natsServers, seed, ...(tls ? { tls } : {}) },
        ...(device.hardwareId ? { hardwareId: device.hardwareId } : {}),
      });
      agents.push(
        await startDeviceAgent({
          identity,
          dataDir: dataDirOf(device.deviceId),
          clock: () => new Date(),
          ...(device.healthCheck ? { healthCheck: device.healthCheck } : {}),
          log: options.log,
        }),
      );
    }
  } catch (err) {
    await Promise.all(agents.map((agent) => agent.stop()));
    throw err;
  }
  return {
    agents,
    dataDirOf,
    stop: async () => {
      await Promise.all(agents.map((agent) => agent.stop()));
    },
  };
}

/**
 * Stops and deletes every app container of the simulated devices under
 * `dataRoot` (those of a run that was interrupted, too): an agent's apps
 * outlive it, and nothing else would ever stop them.
 */
export async function deleteContainersUnder(dataRoot: string): Promise<void> {
  for (const deviceId of await readdir(dataRoot).catch(() => [] as string[])) {
    const dataDir = join(dataRoot, deviceId);
    const { runc } = new AppSupervisor({ dataDir, objects: new ObjectStore(dataDir) });
    for (const id of await runc.list().catch(() => [] as string[])) await runc.delete(id);
  }
}
