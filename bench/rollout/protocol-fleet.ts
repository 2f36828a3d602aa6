// A fleet simulated at the protocol level: what the server side sees of many
// healthy devices, over ONE NATS connection, without their agents.
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  MAX_COMMAND_BYTES,
  parseJson,
  reportSubject,
  revisionTargetPath,
  subjects,
  updateCommandSchema,
  type CommandReply,
  type DevicePhase,
  type Telemetry,
  type UpdateCommand,
} from '../../core/index.ts';
import type { Signer } from '../../core/tuf/index.ts';
import { signDeviceManifest, signEcuVersionReport } from '../../core/uptane/index.ts';
import { connectToNats } from '../../services/nats/index.ts';

/** What a healthy device reports after accepting an update, in order (then its signed manifest). */
const HEALTHY_PHASES: readonly DevicePhase[] = [
  'downloaded',
  'verified',
  'installed',
  'healthy',
  'committed',
];
const PUBLISH_ATTEMPTS = 5;

export interface ProtocolFleetOptions {
  /** `host:port` of the NATS server. */
  servers: string;
  /** A seed whose user may answer `uproll.cmd.*.update` and publish `uproll.dev.*.telemetry`. */
  nkeySeed: string;
  /** The devices this fleet answers for, with the keys their manifests are signed with; any other device is offline. */
  devices: ReadonlyMap<string, DeviceKeys>;
  /** The length and hashes of a released revision's document, as a device's manifest names them. */
  releasedImage(revision: string): Promise<{ length: number; hashes: Record<string, string> }>;
  /** Told when a device accepted a command and when its last report (committed) was stored. */
  observer?: {
    commanded?(deviceId: string): void;
    reported?(deviceId: string): void;
  };
}

/** A device's primary ECU and its key, which signs its version reports. */
export interface DeviceKeys {
  ecuSerial: string;
  key: Signer;
}

export interface ProtocolFleet {
  /** The fleet's connection (the services' rights), for whatever else the benchmark watches. */
  readonly nc: NatsConnection;
  readonly counts: { commands: number; duplicates: number; rejected: number; reports: number; lost: number };
  stop(): Promise<void>;
}

/**
 * Answers every update command of its devices with "accepted", then stores
 * what a healthy device would send (each phase's telemetry, then its signed
 * version report showing the revision; with a Nats-Msg-Id, as the agent
 * does) in JetStream at once: no download, no install, no soak. Needs a user with the services' rights (the
 * device users are each confined to their own subjects).
 */
export async function startProtocolFleet(options: ProtocolFleetOptions): Promise<ProtocolFleet> {
  const devices = options.devices;
  /** Each device's manifest counter, as an agent keeps it. */
  const counters = new Map<string, number>();
  const images = new Map<string, ReturnType<ProtocolFleetOptions['releasedImage']>>();
  const releasedImage = (revision: string) => {
    if (!images.has(revision)) images.set(revision, options.releasedImage(revision));
    return images.get(revision)!;
  };
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
      const counter = (counters.get(deviceId) ?? 0) + 1;
      counters.set(deviceId, counter);
      const signing = { keys: devices.get(deviceId)!, counter, image: releasedImage };
      const work = report(js, deviceId, command, counts, signing).then(() =>
        options.observer?.reported?.(deviceId),
      );
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

/** The device's telemetry, one phase after the other, then its manifest (each stored before the next is sent). */
async function report(
  js: JetStreamClient,
  deviceId: string,
  command: UpdateCommand,
  counts: ProtocolFleet['counts'],
  signing: { keys: DeviceKeys; counter: number; image: ProtocolFleetOptions['releasedImage'] },
): Promise<void> {
  const store = async (subject: string, body: string, msgID: string) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await js.publish(subject, body, { msgID, timeout: 10_000 });
        counts.reports += 1;
        return true;
      } catch {
        if (attempt >= PUBLISH_ATTEMPTS) {
          counts.lost += 1;
          return false;
        }
        await sleep(200 * attempt);
      }
    }
  };
  for (const phase of HEALTHY_PHASES) {
    const body: Telemetry = {
      deviceId,
      rolloutId: command.rolloutId,
      revision: command.revision,
      phase,
      at: new Date().toISOString(),
      ...(phase === 'downloaded' || phase === 'verified' ? {} : { deployment: 'b' }),
    };
    const msgID = `${deviceId}/${command.rolloutId}/${phase}`;
    if (!(await store(subjects.telemetry(deviceId), JSON.stringify(body), msgID))) return;
  }
  const manifest = await signManifest(deviceId, command.revision, signing);
  await store(reportSubject(deviceId), manifest, `${deviceId}/${command.rolloutId}/manifest`);
}

/** The signed manifest an agent sends after committing: its primary ECU runs the revision. */
async function signManifest(
  deviceId: string,
  revision: string,
  signing: { keys: DeviceKeys; counter: number; image: ProtocolFleetOptions['releasedImage'] },
): Promise<string> {
  const { keys, counter } = signing;
  const time = new Date().toISOString();
  const report = await signEcuVersionReport(
    {
      ecuSerial: keys.ecuSerial,
      installedImage: { filepath: revisionTargetPath(revision), fileinfo: await signing.image(revision) },
      attacksDetected: '',
      counter,
      time,
    },
    keys.key,
  );
  const manifest = await signDeviceManifest(
    {
      deviceId,
      primaryEcuSerial: keys.ecuSerial,
      ecuVersionReports: { [keys.ecuSerial]: report },
      counter,
      time,
    },
    keys.key,
  );
  return JSON.stringify(manifest);
}
