// The bench's simulated devices in a process of their own: their CPU (a
// NATS connection, six stored messages and two signatures per update) is the
// devices' work, not the stack's, and is measured apart from it.
import { fork, type ChildProcess } from 'node:child_process';
import type { ProtocolFleet, ProtocolFleetOptions } from '../../sim/index.ts';

const CHILD_PATH = new URL('./fleet-child.ts', import.meta.url).pathname;

export type FleetCounts = ProtocolFleet['counts'];

/** When devices were commanded / stored their last report: [device, ms since the epoch (fractional)]. */
export interface FleetMarks {
  commanded: [string, number][];
  reported: [string, number][];
}

/** Parent to child. */
export type ToFleet =
  | {
      type: 'start';
      servers: string;
      nkeySeed: string;
      tls?: { caFile: string };
      /** Device, ECU serial, Ed25519 private key (PKCS#8 PEM). */
      devices: [string, string, string][];
    }
  | {
      type: 'image';
      revision: string;
      image?: { length: number; hashes: Record<string, string> };
      error?: string;
    }
  | { type: 'counts' }
  | { type: 'stop' };

/** Child to parent. */
export type FromFleet =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'image?'; revision: string }
  | ({ type: 'marks' } & FleetMarks)
  | { type: 'counts'; counts: FleetCounts }
  | { type: 'stopped' };

export interface FleetProcess {
  readonly pid: number;
  /** What the fleet did so far; every mark it made before is delivered first. */
  counts(): Promise<FleetCounts>;
  stop(): Promise<void>;
}

/**
 * Forks the fleet (same Node and flags, so a --cpu-prof run profiles it too),
 * hands it the devices' keys over IPC, and resolves once it answers commands.
 */
export async function startFleetProcess(
  options: Pick<ProtocolFleetOptions, 'servers' | 'nkeySeed' | 'tls' | 'devices' | 'releasedImage'> & {
    marks(marks: FleetMarks): void;
  },
): Promise<FleetProcess> {
  const child: ChildProcess = fork(CHILD_PATH, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const send = (message: ToFleet) => child.send(message);
  type Answer = 'ready' | 'counts' | 'stopped';
  const waiting = new Map<Answer, { resolve: (message: FromFleet) => void; reject: (err: Error) => void }>();
  const next = (type: Answer) =>
    new Promise<FromFleet>((resolve, reject) => waiting.set(type, { resolve, reject }));
  child.once('exit', (code) => {
    for (const [type, { reject }] of waiting)
      reject(new Error(`the fleet process exited (${code}) before '${type}'`));
    waiting.clear();
  });
  child.on('message', (message: FromFleet) => {
    switch (message.type) {
      case 'marks':
        return options.marks(message);
      case 'image?':
        return void options.releasedImage(message.revision).then(
          (image) => send({ type: 'image', revision: message.revision, image }),
          (err: unknown) => send({ type: 'image', revision: message.revision, error: String(err) }),
        );
      case 'failed':
        return void child.kill();
      default:
        waiting.get(message.type)?.resolve(message);
        waiting.delete(message.type);
    }
  });
  const ready = next('ready');
  send({
    type: 'start',
    servers: options.servers,
    nkeySeed: options.nkeySeed,
    ...(options.tls ? { tls: options.tls } : {}),
    devices: [...options.devices].map(([deviceId, keys]) => [
      deviceId,
      keys.ecuSerial,
      keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    ]),
  });
  await ready;
  return {
    pid: child.pid!,
    async counts() {
      const answer = next('counts');
      send({ type: 'counts' });
      const message = await answer;
      return message.type === 'counts' ? message.counts : Promise.reject(new Error('no counts'));
    },
    async stop() {
      if (child.exitCode !== null) return;
      const stopped = next('stopped').catch(() => undefined);
      send({ type: 'stop' });
      await stopped;
      child.disconnect();
    },
  };
}
