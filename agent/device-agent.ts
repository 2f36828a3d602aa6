import { CloudClient } from './cloud-client.ts';
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
  /** Waits for a running update to finish, then disconnects. */
  stop(): Promise<void>;
}

/** Starts a device agent: the update manager driven by its NATS cloud client. */
export async function startDeviceAgent(options: DeviceAgentOptions): Promise<DeviceAgent> {
  const log = options.log ?? (() => {});
  const cloud = await CloudClient.connect({
    deviceId: options.deviceId,
    servers: options.natsServers,
    nkeySeed: options.nkeySeed,
    log,
  });
  const updates = new UpdateManager({
    deviceId: options.deviceId,
    dataDir: options.dataDir,
    healthCheck: options.healthCheck,
    report: async (telemetry) => {
      try {
        await cloud.publishTelemetry(telemetry);
      } catch (err) {
        log(
          `could not report ${telemetry.phase} of rollout ${telemetry.rolloutId}: ${(err as Error).message}`,
        );
      }
    },
  });
  // Settle a trial a crash interrupted before taking new commands.
  await updates.recover((problem) => log(`boot control was damaged: ${problem}`));
  await cloud.serveUpdates((command) => updates.accept(command));
  return {
    deviceId: options.deviceId,
    updates,
    async stop() {
      await updates.idle();
      await cloud.close();
    },
  };
}
