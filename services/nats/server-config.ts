import { subjects } from '../../core/index.ts';

export interface NatsServerConfigInput {
  serverName: string;
  host: string;
  port: number;
  /** HTTP monitoring port (`/healthz`, `/varz`). */
  monitorPort: number;
  /** JetStream file storage directory. */
  storeDir: string;
  /** Public nkeys of the services (worker, bridge, CLI): full access to the account. */
  serviceKeys: readonly string[];
  /** One user per provisioned device. */
  devices: readonly { deviceId: string; publicKey: string }[];
}

/**
 * The permissions of one device (DESIGN.md, messaging): publish only on its
 * own `uproll.dev.<device>.>`, subscribe only to its own commands and inbox,
 * and answer the requests it receives.
 */
export function devicePermissions(deviceId: string) {
  return {
    publish: { allow: [subjects.deviceOutbox(deviceId)] },
    subscribe: { allow: [subjects.allCommands(deviceId), `${subjects.deviceInboxPrefix(deviceId)}.>`] },
    allow_responses: { max: 1, expires: '1m' },
  };
}

/**
 * Renders a nats-server configuration: one account with JetStream for the
 * services and devices, services with full access, devices confined to their
 * own subjects. nats-server reads JSON as configuration syntax, so rendering
 * through JSON.stringify leaves no quoting to get wrong.
 */
export function renderNatsServerConfig(input: NatsServerConfigInput): string {
  const config = {
    server_name: input.serverName,
    host: input.host,
    port: input.port,
    http: `${input.host}:${input.monitorPort}`,
    max_payload: 1024 * 1024,
    jetstream: {
      store_dir: input.storeDir,
      max_memory_store: 256 * 1024 * 1024,
      max_file_store: 10 * 1024 ** 3,
    },
    accounts: {
      UPROLL: {
        jetstream: 'enabled',
        users: [
          ...input.serviceKeys.map((nkey) => ({ nkey })),
          ...input.devices.map(({ deviceId, publicKey }) => ({
            nkey: publicKey,
            permissions: devicePermissions(deviceId),
          })),
        ],
      },
    },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}
