import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agentPartsFor, loadAgentConfig, mergeAgentConfig, RawImageInstaller } from '../../../agent/index.ts';
import { main } from '../../../cli/agent/main.ts';
import { captureIo } from '../../cli-io.ts';

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uproll-agent-config-'));
  file = join(dir, 'agent.json');
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const uboot = {
  bundle: '/etc/uproll/bundle',
  dataDir: '/var/lib/uproll',
  installer: 'image',
  slots: { a: '/dev/mmcblk0p2', b: '/dev/mmcblk0p3' },
  boot: { backend: 'uboot', fwEnvConfig: '/etc/fw_env.config' },
  bootedSlot: { source: 'cmdline', path: '/proc/cmdline' },
  rebootCommand: ['systemctl', 'reboot'],
  healthCheck: { command: ['/usr/bin/app-selftest'], timeoutMs: 60000 },
};
const write = (value: unknown) => writeFile(file, typeof value === 'string' ? value : JSON.stringify(value));

describe('the agent configuration file', () => {
  it('names the raw image installer, the U-Boot environment, the slot devices and the reboot command', async () => {
    await write(uboot);
    const config = await loadAgentConfig(file);
    expect(config).toMatchObject(uboot);
    const parts = agentPartsFor(config, dir);
    expect(parts.installer).toBeInstanceOf(RawImageInstaller);
    expect(parts.bootloader?.env).toMatchObject({
      kind: 'uboot',
      where: expect.stringContaining('/etc/fw_env.config') as string,
    });
  });

  it('names the OCI runtime the apps run with: runc unless it says otherwise', async () => {
    await write({ ...uboot, ociRuntime: ['crun'] });
    expect(agentPartsFor(await loadAgentConfig(file), dir).ociRuntime).toEqual(['crun']);
    await write({ dataDir: '/var/lib/uproll' });
    expect(agentPartsFor(await loadAgentConfig(file), dir).ociRuntime).toEqual(['runc']);
    await write({ ociRuntime: [] });
    await expect(loadAgentConfig(file)).rejects.toThrow(/ociRuntime/);
  });

  it('takes a GRUB machine too', async () => {
    await write({ ...uboot, boot: { backend: 'grub', grubenv: '/boot/grub/grubenv', trialBoots: 2 } });
    expect(agentPartsFor(await loadAgentConfig(file), dir).bootloader?.env.kind).toBe('grub');
  });

  it.each([
    ['an unknown key', { ...uboot, slotz: {} }, /slotz/],
    ['an unknown key inside boot', { ...uboot, boot: { ...uboot.boot, bootlimit: 3 } }, /bootlimit/],
    ['a relative path', { ...uboot, dataDir: 'var/lib' }, /dataDir: must be an absolute path/],
    ['the image installer without slots', { ...uboot, slots: undefined }, /needs slots/],
    [
      'the image installer without a bootloader',
      { ...uboot, boot: { backend: 'file' } },
      /needs a bootloader/,
    ],
    ['a bootloader for slot directories', { ...uboot, installer: 'ab' }, /set installer to image/],
    [
      'one device for both slots',
      { ...uboot, slots: { a: '/dev/sda2', b: '/dev/sda2' } },
      /different devices/,
    ],
    [
      'too many trial boots for GRUB to count',
      { ...uboot, boot: { backend: 'grub', grubenv: '/g', trialBoots: 7 } },
      /trialBoots/,
    ],
  ])('refuses %s (INVALID_INPUT)', async (_what, config, message) => {
    await write(config);
    await expect(loadAgentConfig(file)).rejects.toThrowWithCode('INVALID_INPUT');
    await expect(loadAgentConfig(file)).rejects.toThrow(message);
  });

  it('refuses a file over its byte cap before parsing it (INPUT_TOO_LARGE)', async () => {
    await write(`{"nats": "${'x'.repeat(70_000)}"}`);
    await expect(loadAgentConfig(file)).rejects.toThrowWithCode('INPUT_TOO_LARGE');
  });

  it('refuses what is not JSON', async () => {
    await write('installer = image');
    await expect(loadAgentConfig(file)).rejects.toThrowWithCode('INVALID_INPUT');
  });

  it('is overridden by the command line, key by key, and validated again as a whole', () => {
    const merged = mergeAgentConfig(
      uboot as never,
      {
        dataDir: '/data',
        boot: { backend: 'uboot', fwEnvConfig: '/tmp/fw_env.config' },
        slots: { b: '/dev/sdb3' } as never,
      },
      'test',
    );
    expect(merged).toMatchObject({
      bundle: '/etc/uproll/bundle',
      dataDir: '/data',
      boot: { backend: 'uboot', fwEnvConfig: '/tmp/fw_env.config' },
      slots: { a: '/dev/mmcblk0p2', b: '/dev/sdb3' },
    });
    expect(() => mergeAgentConfig(uboot as never, { installer: 'ab' }, 'test')).toThrow(
      /set installer to image/,
    );
  });
});

describe('uproll-agent --config', () => {
  it('fails in one line with the code when the file is refused, and starts nothing', async () => {
    await write({ ...uboot, colour: 'blue' });
    const io = captureIo();
    expect(await main(['--config', file], io)).toBe(1);
    expect(io.stderr()).toMatch(/^uproll-agent: INVALID_INPUT: .*colour.*$/);
    expect(io.stderr().split('\n')).toHaveLength(1);
  });

  it('is listed in --help with the boot options', async () => {
    const io = captureIo();
    expect(await main(['--help'], io)).toBe(0);
    for (const option of [
      '--config FILE',
      '--boot-backend',
      '--fw-env-config',
      '--grubenv',
      '--slot-a',
      '--cmdline',
      '--reboot-cmd',
    ])
      expect(io.stdout()).toContain(option);
  });
});
