// The fleet process of bench:rollout (started by fleet-process.ts over IPC):
// the protocol-level fleet, its marks sent back in batches.
import { createPrivateKey } from 'node:crypto';
import { inMemorySigner } from '../../core/tuf/index.ts';
import { startProtocolFleet, type DeviceKeys, type ProtocolFleet } from '../../sim/index.ts';
import type { FleetMarks, FromFleet, ToFleet } from './fleet-process.ts';

/** Marks go to the parent this often: one IPC message per batch, not per device. */
const MARKS_EVERY_MS = 100;

const send = (message: FromFleet) => process.send!(message);
const clock = () => performance.timeOrigin + performance.now();
let marks: FleetMarks = { commanded: [], reported: [] };
const flushMarks = () => {
  if (marks.commanded.length + marks.reported.length === 0) return;
  send({ type: 'marks', ...marks });
  marks = { commanded: [], reported: [] };
};
const images = new Map<string, (answer: Extract<ToFleet, { type: 'image' }>) => void>();
let fleet: ProtocolFleet | undefined;
const timer = setInterval(flushMarks, MARKS_EVERY_MS);

process.on('message', (message: ToFleet) => {
  switch (message.type) {
    case 'start':
      return void start(message).catch((err: unknown) => send({ type: 'failed', message: String(err) }));
    case 'image':
      return images.get(message.revision)?.(message);
    case 'counts':
      flushMarks();
      return send({ type: 'counts', counts: { ...fleet!.counts } });
    case 'stop':
      return void fleet
        ?.stop()
        .finally(() => {
          clearInterval(timer);
          flushMarks();
          send({ type: 'stopped' });
        })
        .catch(() => {});
  }
});

async function start(options: Extract<ToFleet, { type: 'start' }>): Promise<void> {
  const devices = new Map<string, DeviceKeys>();
  for (const [deviceId, ecuSerial, pem] of options.devices) {
    const privateKey = createPrivateKey(pem);
    devices.set(deviceId, { ecuSerial, key: inMemorySigner(privateKey), privateKey });
  }
  fleet = await startProtocolFleet({
    servers: options.servers,
    nkeySeed: options.nkeySeed,
    ...(options.tls ? { tls: options.tls } : {}),
    devices,
    releasedImage: (revision) =>
      new Promise((resolve, reject) => {
        images.set(revision, (answer) =>
          answer.image ? resolve(answer.image) : reject(new Error(answer.error ?? 'no image')),
        );
        send({ type: 'image?', revision });
      }),
    observer: {
      commanded: (deviceId) => void marks.commanded.push([deviceId, clock()]),
      reported: (deviceId) => void marks.reported.push([deviceId, clock()]),
    },
  });
  send({ type: 'ready' });
}
