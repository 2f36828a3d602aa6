import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subscription } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BootControlFile, bootedSlotFromCmdline, type PhaseBoundary } from '../../agent/index.ts';
import type { Telemetry } from '../../core/index.ts';
import { DeviceCommands, onJson } from '../../services/nats/index.ts';
import { slotSha256, type BootloaderKind } from '../helpers/ab-image-device.ts';
import { eventually } from '../helpers/eventually.ts';
import { startHarness, type Harness } from './harness.ts';
import { imageAgentDevice, releaseRootfs } from './image-agent-device.ts';

/** Power cuts per phase boundary; `UPROLL_CRASH_RUNS` raises it for a longer soak. */
const RUNS = Number(process.env['UPROLL_CRASH_RUNS'] ?? 2);

let h: Harness;
let workDir: string;
const images = new Map<string, Buffer>();
const heard: Telemetry[] = [];
let telemetry: Subscription;

beforeAll(async () => {
  h = await startHarness();
  workDir = await mkdtemp(join(tmpdir(), 'uproll-boot-crash-'));
  for (const name of ['boot-crash-a', 'boot-crash-b'])
    images.set(name, await releaseRootfs(h, workDir, name));
  telemetry = h.nc.subscribe('uproll.dev.*.telemetry', {
    // Other files publish what is not JSON here (forged telemetry): a callback that threw would stop the connection.
    callback: onJson<Telemetry>((telemetry) => heard.push(telemetry)),
  });
}, 120_000);
afterAll(async () => {
  telemetry?.unsubscribe();
  await h?.close();
  await rm(workDir, { recursive: true, force: true });
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * The state after a boot is known and bootable: the bootloader booted a slot
 * that holds a whole image of a revision the agent recorded for it (or the
 * factory slot a, on which nothing was ever written), never a half-written one.
 */
async function expectBootableKnownState(device: Awaited<ReturnType<typeof imageAgentDevice>>): Promise<void> {
  const booted = await bootedSlotFromCmdline({
    path: device.hardware.cmdline,
    devices: device.hardware.slots,
  });
  const control = await new BootControlFile(device.dataDir).read();
  const recorded = [control.active, control.previous].find((d) => d?.deployment === booted);
  if (!recorded) {
    expect(booted).toBe('a'); // the factory slot, before any update committed into it
    return;
  }
  const image = images.get(recorded.revision)!;
  expect(await slotSha256(device.hardware.slots[booted], image.byteLength)).toBe(sha256(image));
}

/** What the device's update of `rolloutId` ended with, as the server heard it. */
function outcomeOf(deviceId: string, rolloutId: string): Telemetry | undefined {
  return heard.find(
    (t) =>
      t.deviceId === deviceId &&
      t.rolloutId === rolloutId &&
      (t.phase === 'committed' || t.phase === 'rolled_back'),
  );
}

const BOUNDARIES: [PhaseBoundary, 'committed' | 'rolled_back'][] = [
  ['downloaded', 'committed'],
  ['verified', 'committed'],
  ['writing', 'committed'], // the image is in the slot, nothing armed: the update resumes
  ['switched', 'committed'], // armed and recorded: the power-on boots the trial
  ['healthy', 'rolled_back'], // the trial boot died before its commit: the bootloader falls back
];

describe.each<BootloaderKind>(['uboot', 'grub'])(
  `power cuts of a raw image update on %s, at every phase boundary, ${RUNS} times each`,
  (kind) => {
    it.each(BOUNDARIES)(
      'after %s: every boot finds a bootable, known state, and the update ends %s',
      async (boundary, expected) => {
        const device = await imageAgentDevice(h, workDir, kind);
        const commands = new DeviceCommands(h.nc, { timeoutMs: 10_000 });
        let reboots = 0;
        try {
          for (let run = 1; run <= RUNS; run++) {
            const target = run % 2 === 1 ? 'boot-crash-a' : 'boot-crash-b';
            await h.repos.assign(device.deviceId, target);
            const rolloutId = `${device.deviceId}-run-${run}`;
            let killed = false;
            await device.start(boundary);
            await commands
              .sendUpdateCommand(device.deviceId, { rolloutId, revision: target })
              .catch((err: unknown) => {
                // What the agent was doing is what tells why it did not answer (seen once in CI).
                const said = device.agent.stderr.slice(-15).join('\n  ');
                throw new Error(`${(err as Error).message}; the agent said:\n  ${said}`, { cause: err });
              });
            while (!outcomeOf(device.deviceId, rolloutId)) {
              const next = await eventually(
                `the agent to die, ask for a reboot or finish ${rolloutId}`,
                async () => {
                  if (outcomeOf(device.deviceId, rolloutId)) return 'done';
                  if (device.agent.child.signalCode === 'SIGKILL') return 'killed';
                  return (await device.rebootsAsked()) > reboots ? 'reboot' : undefined;
                },
              );
              if (next === 'done') break;
              if (next === 'killed') killed = true;
              else {
                reboots += 1;
                await device.agent.stop();
              }
              await device.hardware.boot(); // the power comes back, or the reboot happens
              await expectBootableKnownState(device);
              await device.start(killed ? undefined : boundary);
            }
            expect(killed).toBe(true);
            expect(outcomeOf(device.deviceId, rolloutId)).toMatchObject({
              phase: expected,
              ...(expected === 'rolled_back' ? { error: { code: 'BOOT_FAILED' } } : { revision: target }),
            });
            await device.agent.stop();
            await device.hardware.boot();
            await expectBootableKnownState(device);
            expect(await new BootControlFile(device.dataDir).read()).toMatchObject({ trial: false });
          }
        } finally {
          await device.stop();
        }
      },
      300_000,
    );
  },
);
