// A fleet simulated at the protocol level: what the server side sees of many
// healthy devices, over ONE NATS connection, without their agents.
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  MAX_COMMAND_BYTES,
  parseJson,
  subjects,
  updateCommandSchema,
  type CommandReply,
  type DevicePhase,
  type Telemetry,
  type UpdateCommand,
} from '../../core/index.ts';
import { connectToNats } from '../../services/nats/index.ts';

/** What a healthy device reports after accepting an update, in order. */
const HEALTHY_PHASES: readonly DevicePhase[] = ['downloaded', 'installed', 'committed'];
const PUBLISH_ATTEMPTS = 5;

export interface ProtocolFleetOptions {
  /** `host:port` of the NATS server. */
  servers: string;
  /** A seed whose user may answer `uproll.cmd.*.update` and publish `uproll.dev.*.telemetry`. */
  nkeySeed: string;
  /** The devices this fleet answers for; commands to any other device go unanswered. */
  devices: Iterable<string>;
  /** Told when a device accepted a command and when its last report (committed) was stored. */
  observer?: {
    commanded?(deviceId: string): void;
    reported?(deviceId: string): void;
  };
}

export interface ProtocolFleet {
  /** The fleet's connection (the services' rights), for whatever else the benchmark watches. */
  readonly nc: NatsConnection;
  readonly counts: { commands: number; duplicates: number; rejected: number; reports: number; lost: number };
  stop(): Promise<void>;
}

/**
 * Answers every update command of its devices with "accepted", then stores
 * the telemetry a healthy device would send (downloaded, installed,
 * committed; with a Nats-Msg-Id, as the agent does) in JetStream at once: no
 * download, no install, no soak. Needs a user with the services' rights (the
 * device users are each confined to their own subjects).
 */
export async function startProtocolFleet(options: ProtocolFleetOptions): Promise<ProtocolFleet> {
  const devices = new Set(options.devices);
  const nc: NatsConnection = await connectToNats({
    servers: options.servers,
    nkeySeed: options.nkeySeed,
    name: 'uproll-bench-protocol-fleet',
  });
  const js = jetstream(nc);
  const counts = { commands: 0, duplicates: 0, rejected: 0, reports: 0, lost: 0 };
  /** `<device>/<rollout>` of every accepted command: a repeated command is a duplicate, as on an agent. */
  const accepted = new Set<string>();
  const running = new Set<Promise<void>>();

  const subscription: Subscription = nc.subscribe('uproll.cmd.*.update');
  const serving = (async () => {
    for await (const msg of subscription) {
      const deviceId = msg.subject.split('.')[2] ?? '';
      if (!devices.has(deviceId)) continue; // not ours: unanswered, as an offline device
      counts.commands += 1;
      const command = parseCommand(msg, deviceId);
      if (!command) {
        counts.rejected += 1;
        continue;
      }
      const key = `${deviceId}/${command.rolloutId}`;
      const duplicate = accepted.has(key);
      msg.respond(JSON.stringify({ accepted: true, duplicate } satisfies CommandReply));
      if (duplicate) {
        counts.duplicates += 1;
        continue;
      }
      accepted.add(key);
      options.observer?.commanded?.(deviceId);
      const work = report(js, deviceId, command, counts).then(() => options.observer?.reported?.(deviceId));
      running.add(work);
      void work.finally(() => running.delete(work));
    }
  })();

  await nc.flush();
  return {
    nc,
    counts,
    async stop() {
      subscription.unsubscribe();
      await serving;
      await Promise.allSettled([...running]);
      await nc.drain();
    },
  };
}

function parseCommand(msg: Msg, deviceId: string): UpdateCommand | undefined {
  try {
    return parseJson(updateCommandSchema, msg.data, {
      maxBytes: MAX_COMMAND_BYTES,
      what: `update command for ${deviceId}`,
    });
  } catch (err) {
    const error = { code: 'INVALID_INPUT', message: (err as Error).message.slice(0, 1024) };
    msg.respond(JSON.stringify({ accepted: false, error } satisfies CommandReply));
    return undefined;
  }
}

/** The device's telemetry, one phase after the other (each stored before the next is sent). */
async function report(
  js: JetStreamClient,
  deviceId: string,
  command: UpdateCommand,
  counts: ProtocolFleet['counts'],
): Promise<void> {
  for (const phase of HEALTHY_PHASES) {
    const body: Telemetry = {
      deviceId,
      rolloutId: command.rolloutId,
      revision: command.revision,
      phase,
      at: new Date().toISOString(),
      ...(phase === 'downloaded' ? {} : { deployment: 'b' }),
    };
    const msgID = `${deviceId}/${command.rolloutId}/${phase}`;
    for (let attempt = 1; ; attempt++) {
      try {
        await js.publish(subjects.telemetry(deviceId), JSON.stringify(body), { msgID, timeout: 10_000 });
        counts.reports += 1;
        break;
      } catch {
        if (attempt >= PUBLISH_ATTEMPTS) {
          counts.lost += 1;
          return;
        }
        await sleep(200 * attempt);
      }
    }
  }
}
