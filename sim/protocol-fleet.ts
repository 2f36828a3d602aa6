// A fleet simulated at the protocol level: what the server side sees of many
// devices, over ONE NATS connection, without their agents. For tests and
// benchmarks with hundreds or thousands of devices.
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  MAX_COMMAND_BYTES,
  deviceOfSubject,
  parseJson,
  reportSubject,
  revisionTargetPath,
  rollbackCommandSchema,
  subjects,
  updateCommandSchema,
  type CommandReply,
  type DevicePhase,
  type RollbackReply,
  type Telemetry,
  type UpdateCommand,
} from '../core/index.ts';
import type { Signer } from '../core/tuf/index.ts';
import { signPrimaryManifest } from '../core/uptane/index.ts';
import { connectToNats } from '../adapters/nats/index.ts';
import type { SimulatedRepositories } from './repositories.ts';

/** What a device reports after accepting an update, in order (then its signed manifest). */
const HEALTHY_PHASES: readonly DevicePhase[] = [
  'downloaded',
  'verified',
  'installed',
  'healthy',
  'committed',
];
const UNHEALTHY_PHASES: readonly DevicePhase[] = ['downloaded', 'verified', 'installed', 'rolled_back'];
/** A device keeps a report until JetStream has it (the agent keeps it on disk): this long at most, in a test. */
const PUBLISH_GIVE_UP_MS = 60_000;

/** A device's primary ECU and its key, which signs its version reports. */
export interface DeviceKeys {
  ecuSerial: string;
  key: Signer;
  /** The key `key` signs with, for a fleet run in another process. */
  privateKey: KeyObject;
}

/** Devices registered with the Director at once: each is a few signatures and fsynced files. */
const ENROLL_CONCURRENCY = 16;

/** Registers the devices with the simulated Director; returns the keys a protocol-level fleet signs with. */
export async function enrollDevices(
  repos: Pick<SimulatedRepositories, 'enroll'>,
  deviceIds: readonly string[],
): Promise<Map<string, DeviceKeys>> {
  const keys = new Map<string, DeviceKeys>();
  let next = 0;
  await Promise.all(
    Array.from({ length: ENROLL_CONCURRENCY }, async () => {
      while (next < deviceIds.length) {
        const deviceId = deviceIds[next++]!;
        const privateKey = generateKeyPairSync('ed25519').privateKey;
        const identity = await repos.enroll(deviceId, { key: privateKey });
        keys.set(deviceId, {
          ecuSerial: identity.device.ecus[0]!.serial,
          key: identity.deviceKey,
          privateKey,
        });
      }
    }),
  );
  return keys;
}

/** The length and hashes of a revision's document as the simulated Image repository released it. */
export function releasedImageOf(
  repos: Pick<SimulatedRepositories, 'image'>,
): ProtocolFleetOptions['releasedImage'] {
  return async (revision) => {
    const target = (await repos.image.releasedTargets())[revisionTargetPath(revision)];
    if (!target) throw new Error(`revision ${revision} is not released`);
    return { length: target.length, hashes: target.hashes };
  };
}

export interface ProtocolFleetOptions {
  /** `host:port` of the NATS server. */
  servers: string;
  /** The CA NATS's certificate is verified with, when it speaks TLS. */
  tls?: { caFile: string };
  /** A seed whose user may answer `uproll.cmd.*.*` and publish `uproll.dev.*.*` (the services' rights). */
  nkeySeed: string;
  /** The devices this fleet answers for, with the keys their manifests are signed with; any other device is offline. */
  devices: ReadonlyMap<string, DeviceKeys>;
  /** The length and hashes of a released revision's document, as a device's manifest names them. */
  releasedImage(revision: string): Promise<{ length: number; hashes: Record<string, string> }>;
  /** Devices that answer no command while this says so (switched off, out of range), and come back after. */
  offline?: (deviceId: string) => boolean;
  /** Devices whose health check fails on a revision: they roll back to what they ran. */
  unhealthy?: (deviceId: string, revision: string) => boolean;
  /**
   * How long a device takes before sending each report (its manifest is the
   * `manifest` step); Infinity: it stalls there, sending nothing more. Default: no time.
   */
  delayMs?: (deviceId: string, step: DevicePhase | 'manifest') => number;
  /** Told when a device accepted a command and when its last report was stored. */
  observer?: {
    commanded?(deviceId: string): void;
    reported?(deviceId: string): void;
  };
}

/** What one simulated device runs: its committed revision (and the one before), by the update that put it there. */
interface DeviceState {
  current?: { revision: string; rolloutId: string };
  previous?: { revision: string; rolloutId: string };
  counter: number;
}

export interface ProtocolFleet {
  /** The fleet's connection (the services' rights), for whatever else the caller watches. */
  readonly nc: NatsConnection;
  readonly counts: { commands: number; duplicates: number; rejected: number; reports: number; lost: number };
  /** The revision a device runs now (undefined before its first update). */
  revisionOf(deviceId: string): string | undefined;
  stop(): Promise<void>;
}

/**
 * Answers every update command of its devices with "accepted", then stores
 * what the device would send (each phase's telemetry, then its signed
 * version report; with a Nats-Msg-Id, as the agent does) in JetStream at
 * once: no download, no install, no soak. A device that is `unhealthy` on
 * the revision rolls back to the one it ran. Answers rollback commands as
 * an agent does: back to the previous committed revision if that rollout
 * put the device where it is.
 */
export async function startProtocolFleet(options: ProtocolFleetOptions): Promise<ProtocolFleet> {
  const { devices } = options;
  const nc: NatsConnection = await connectToNats({
    servers: options.servers,
    nkeySeed: options.nkeySeed,
    name: 'uproll-sim-protocol-fleet',
    ...(options.tls ? { tls: options.tls } : {}),
  });
  const js = jetstream(nc);
  const counts = { commands: 0, duplicates: 0, rejected: 0, reports: 0, lost: 0 };
  const states = new Map<string, DeviceState>();
  const stateOf = (deviceId: string) => {
    let state = states.get(deviceId);
    if (!state) states.set(deviceId, (state = { counter: 0 }));
    return state;
  };
  /** `<device>/<rollout>` of every accepted command: a repeated command is a duplicate, as on an agent. */
  const accepted = new Set<string>();
  const running = new Set<Promise<void>>();
  const images = new Map<string, ReturnType<ProtocolFleetOptions['releasedImage']>>();
  const releasedImage = (revision: string) => {
    if (!images.has(revision)) images.set(revision, options.releasedImage(revision));
    return images.get(revision)!;
  };

  const track = (work: Promise<void>) => {
    running.add(work);
    void work.finally(() => running.delete(work));
  };

  const updates: Subscription = nc.subscribe('uproll.cmd.*.update');
  const servingUpdates = (async () => {
    for await (const msg of updates) {
      const deviceId = deviceOfSubject(msg.subject);
      const keys = devices.get(deviceId);
      if (!keys || options.offline?.(deviceId)) continue; // unanswered, as an offline device
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
      const state = stateOf(deviceId);
      const healthy = !options.unhealthy?.(deviceId, command.revision);
      if (healthy) {
        state.previous = state.current;
        state.current = { revision: command.revision, rolloutId: command.rolloutId };
      }
      const device = { deviceId, keys, state, image: releasedImage, delayMs: options.delayMs };
      track(
        report(js, device, command, healthy ? HEALTHY_PHASES : UNHEALTHY_PHASES, counts).then(() =>
          options.observer?.reported?.(deviceId),
        ),
      );
    }
  })();

  const rollbacks: Subscription = nc.subscribe('uproll.cmd.*.rollback');
  const servingRollbacks = (async () => {
    for await (const msg of rollbacks) {
      const deviceId = deviceOfSubject(msg.subject);
      const keys = devices.get(deviceId);
      if (!keys || options.offline?.(deviceId)) continue;
      const parsed = rollbackCommandSchema.safeParse(safeJson(msg.data));
      if (!parsed.success) continue;
      const state = stateOf(deviceId);
      const left = state.current;
      const back = left?.rolloutId === parsed.data.rolloutId ? state.previous : undefined;
      if (left && back) {
        state.current = back;
        state.previous = undefined;
        const command = { rolloutId: left.rolloutId, revision: left.revision };
        const device = { deviceId, keys, state, image: releasedImage, delayMs: options.delayMs };
        track(report(js, device, command, ['rolled_back'], counts));
      }
      const reply: RollbackReply = {
        accepted: true,
        rolledBack: back !== undefined,
        revision: state.current?.revision ?? null,
      };
      msg.respond(JSON.stringify(reply));
    }
  })();

  await nc.flush();
  return {
    nc,
    counts,
    revisionOf: (deviceId) => states.get(deviceId)?.current?.revision,
    async stop() {
      updates.unsubscribe();
      rollbacks.unsubscribe();
      await Promise.all([servingUpdates, servingRollbacks]);
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

function safeJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
}

interface SimulatedDevice {
  deviceId: string;
  keys: DeviceKeys;
  state: DeviceState;
  image: ProtocolFleetOptions['releasedImage'];
  delayMs: ProtocolFleetOptions['delayMs'];
}

/** The device's telemetry, one phase after the other, then its manifest (each stored before the next is sent). */
async function report(
  js: JetStreamClient,
  device: SimulatedDevice,
  command: UpdateCommand,
  phases: readonly DevicePhase[],
  counts: ProtocolFleet['counts'],
): Promise<void> {
  const { deviceId } = device;
  const store = async (subject: string, body: string, msgID: string) => {
    const giveUpAt = performance.now() + PUBLISH_GIVE_UP_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        await js.publish(subject, body, { msgID, timeout: 10_000 });
        counts.reports += 1;
        return true;
      } catch {
        // Through a NATS restart (JetStream recovering its streams on a loaded machine can take a while).
        if (performance.now() > giveUpAt) {
          counts.lost += 1;
          return false;
        }
        await sleep(Math.min(200 * attempt, 2000));
      }
    }
  };
  /** False when the device stalls at this step. */
  const takeTime = async (step: DevicePhase | 'manifest') => {
    const delay = device.delayMs?.(deviceId, step) ?? 0;
    if (delay === Number.POSITIVE_INFINITY) return false;
    if (delay > 0) await sleep(delay);
    return true;
  };
  for (const phase of phases) {
    if (!(await takeTime(phase))) return;
    const body: Telemetry = {
      deviceId,
      rolloutId: command.rolloutId,
      revision: command.revision,
      phase,
      at: new Date().toISOString(),
      ...(phase === 'downloaded' || phase === 'verified' ? {} : { deployment: 'b' }),
      ...(phase === 'rolled_back'
        ? { error: { code: 'HEALTH_CHECK_FAILED', message: 'simulated: the health check failed' } }
        : {}),
    };
    const msgID = `${deviceId}/${command.rolloutId}/${phase}`;
    if (!(await store(subjects.telemetry(deviceId), JSON.stringify(body), msgID))) return;
  }
  if (!(await takeTime('manifest'))) return;
  device.state.counter += 1;
  const manifest = await signManifest(device, device.state.counter);
  await store(reportSubject(deviceId), manifest, `${deviceId}/manifest/${device.state.counter}`);
}

/** The signed manifest an agent sends after an update ends: what its primary ECU runs now. */
async function signManifest(device: SimulatedDevice, counter: number): Promise<string> {
  const { keys, deviceId } = device;
  const revision = device.state.current?.revision;
  const manifest = await signPrimaryManifest(
    {
      deviceId,
      primaryEcuSerial: keys.ecuSerial,
      installed: revision
        ? { path: revisionTargetPath(revision), ...(await device.image(revision)) }
        : undefined,
      attacksDetected: '',
      counter,
      time: new Date().toISOString(),
    },
    keys.key,
  );
  return JSON.stringify(manifest);
}
