import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentConfigInput } from '../../agent/index.ts';
import { abImageDevice, rootfsImage, type BootloaderKind } from '../helpers/ab-image-device.ts';
import { startAgentProcess, type AgentProcess } from '../helpers/agent-process.ts';
import { eventually } from '../helpers/eventually.ts';
import { uniqueId, type Harness } from './harness.ts';

/**
 * A real uproll-agent process on a device with file-backed A/B slots and a
 * real boot environment, configured by a --config file: raw image
 * installer, the bootloader's environment, the kernel command line the
 * test's bootloader step writes, and a reboot command that records the call.
 * The agent is not started yet.
 */
export async function imageAgentDevice(h: Harness, workDir: string, kind: BootloaderKind) {
  const deviceId = uniqueId(`boot-${kind}`);
  const dir = join(workDir, deviceId);
  const { credentials: seed } = await h.provisionDevice(deviceId);
  const bundle = join(dir, 'bundle');
  await h.repos.enroll(deviceId, {
    nats: { servers: h.addresses.nats, seed, tls: h.natsTls },
    bundleDir: bundle,
  });
  await mkdir(join(dir, 'hw'), { recursive: true });
  const hardware = await abImageDevice(join(dir, 'hw'), kind);
  const reboots = join(dir, 'reboots');
  await writeFile(reboots, '');
  const config: AgentConfigInput = {
    bundle,
    dataDir: join(dir, 'data'),
    installer: 'image',
    slots: hardware.slots,
    boot:
      kind === 'uboot'
        ? { backend: 'uboot', fwEnvConfig: hardware.files['config']! }
        : { backend: 'grub', grubenv: hardware.files['grubenv']! },
    bootedSlot: { source: 'cmdline', path: hardware.cmdline },
    rebootCommand: ['sh', '-c', `echo reboot >> ${reboots}`],
    healthCheck: { command: ['sh', '-c', 'test ! -e fail-health'], timeoutMs: 10_000 },
  };
  const configFile = join(dir, 'agent.json');
  await writeFile(configFile, JSON.stringify(config));
  let agent: AgentProcess | undefined;
  const rebootsAsked = async () => (await readFile(reboots, 'utf8')).split('\n').filter(Boolean).length;
  const device = {
    deviceId,
    hardware,
    dataDir: config.dataDir!,
    rebootsAsked,
    get agent() {
      if (!agent) throw new Error(`the agent of ${deviceId} is not running`);
      return agent;
    },
    async start(crashAt?: string) {
      agent = await startAgentProcess(['--config', configFile], crashAt ? { crashAt } : {}).ready();
      return agent;
    },
    /** Waits for the agent to ask for its `n`th reboot, then: the agent stops, the bootloader boots `boots` times, the agent starts. */
    async rebootWhenAsked(n: number, boots = 1): Promise<string[]> {
      await eventually(
        `the agent on ${deviceId} to ask for reboot ${n}`,
        async () => (await rebootsAsked()) >= n,
      );
      await agent?.stop();
      const slots: string[] = [];
      for (let boot = 0; boot < boots; boot++) slots.push(await hardware.boot());
      await device.start();
      return slots;
    },
    stop: async () => agent?.stop(),
  };
  return device;
}

/** Publishes a revision whose rootfs is a small ext4 image; returns the image. */
export async function releaseRootfs(h: Harness, workDir: string, name: string, releaseCounter = 1) {
  const image = await rootfsImage(workDir, name, {
    'etc/os-release': `ID=uproll-test\nVERSION_ID=${name}\n`,
  });
  await h.repos.publish(name, [{ path: 'rootfs.ext4', bytes: image, image: 'rootfs' }], { releaseCounter });
  return image;
}
