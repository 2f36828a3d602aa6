import { join } from 'node:path';
import { CloudClient } from './cloud-client.ts';
import { ControlClient } from './control-client.ts';
import { startControlSocket } from './control-socket.ts';
import type { HealthCheck } from './health-check.ts';
import { UpdateManager } from './update-manager.ts';

export interface DeviceAgentOptions {
  deviceId: string;
  dataDir: string;
  natsServers: string | string[];
  nkeySeed: string;
  healthCheck?: HealthCheck;
  log?: (line: string) => void;
}

export interface DeviceAgent {
  deviceId: string;
  updates: UpdateManager;
  /** Path of the update manager's control socket. */
  controlSocket: string;
  /** Waits for a running update to finish, then disconnects. */
  stop(): Promise<void>;
}

/**
 * Starts a device agent: the update manager behind its local control
 * socket, and the NATS cloud client, which talks to the update manager
 * only through that socket (as another provider's client would).
 */
export async function startDeviceAgent(options: DeviceAgentOptions): Promise<DeviceAgent> {
  const log = options.log ?? (() => {});
  let publish: (telemetry: Parameters<typeof socket.publish>[0]) => void = () => {};
  const updates = new UpdateManager({
    deviceId: options.deviceId,
    dataDir: options.dataDir,
    healthCheck: options.healthCheck,
    report: (telemetry) => Promise.resolve(publish(telemetry)),
  });
  const socket = await startControlSocket(join(options.dataDir, 'control.sock'), updates);
  publish = (telemetry) => socket.publish(telemetry);
  // Settle a trial a crash interrupted before taking new commands.
  await updates.recover((problem) => log(`boot control was damaged: ${problem}`));

  const control = new ControlClient(socket.path);
  const cloud = await CloudClient.connect({
    deviceId: options.deviceId,
    servers: options.natsServers,
    nkeySeed: options.nkeySeed,
    log,
  });
  const forwarding = control.events(0, async (telemetry) => {
    try {
      await cloud.publishTelemetry(telemetry);
    } catch (err) {
      log(`could not report ${telemetry.phase} of rollout ${telemetry.rolloutId}: ${(err as Error).message}`);
    }
  });
  await cloud.serveUpdates((command) => control.update(command));
  return {
    deviceId: options.deviceId,
    updates,
    controlSocket: socket.path,
    async stop() {
      await updates.idle();
      forwarding.close();
      await forwarding.done.catch(() => {});
      await cloud.close();
      await socket.close();
    },
  };
}
