import { open } from 'node:fs/promises';
import { z } from 'zod';
import { healthCheckSchema, isValidTimezone, parseJson, parseValue, UprollError } from '../core/index.ts';
import { bootedSlotFromCmdline, GrubEnv, rebootCommand, UBootEnv, type Bootloader } from './boot/index.ts';
import { RawImageInstaller } from './installers/raw-image.ts';
import type { Installer } from './installers/installer.ts';

/** Byte cap on the agent's configuration file. */
export const MAX_AGENT_CONFIG_BYTES = 64 * 1024;

const path = z.string().min(1).max(4096).regex(/^\//, 'must be an absolute path');
const argv = z.tuple([z.string().min(1).max(1024)], z.string().max(4096));
const trialBoots = z.int().min(1).max(3).optional();

/**
 * The agent's configuration file (`uproll-agent --config FILE`, JSON):
 * every key optional, unknown keys refused; command-line flags override it.
 */
export const agentConfigSchema = z
  .strictObject({
    bundle: path.optional(),
    dataDir: path.optional(),
    /** `ab`: slot directories (development); `ostree`: a local OSTree repo; `image`: raw A/B rootfs slots. */
    installer: z.enum(['ab', 'ostree', 'image']).optional(),
    /** Each slot's block device, for the `image` installer. */
    slots: z.strictObject({ a: path, b: path }).optional(),
    /** Who switches slots: `file` (the agent's own record, no reboot: `ab`, `ostree`), or the bootloader. */
    boot: z
      .discriminatedUnion('backend', [
        z.strictObject({ backend: z.literal('file') }),
        z.strictObject({ backend: z.literal('uboot'), fwEnvConfig: path, trialBoots }),
        z.strictObject({ backend: z.literal('grub'), grubenv: path, trialBoots }),
      ])
      .optional(),
    /** Where the agent learns which slot booted: the kernel command line (`uproll.slot=`, else `root=`). */
    bootedSlot: z
      .strictObject({ source: z.literal('cmdline'), path: path.default('/proc/cmdline') })
      .optional(),
    /** What the agent runs to reboot into a trial slot or back (default `systemctl reboot`). */
    rebootCommand: argv.optional(),
    healthCheck: healthCheckSchema.optional(),
    imageUrl: z.url({ protocol: /^https?$/ }).optional(),
    directorUrl: z.url({ protocol: /^https?$/ }).optional(),
    nats: z.string().min(1).max(4096).optional(),
    timezone: z.string().max(64).refine(isValidTimezone, 'must be a known IANA time zone').optional(),
    /** False: no NATS, the control socket only. */
    cloud: z.boolean().optional(),
    /** The OSTree system to deploy into, for the `ostree` installer (without it: a local repo of files). */
    ostree: z
      .strictObject({
        sysroot: path,
        os: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be a plain OS name'),
      })
      .optional(),
    /**
     * The OCI runtime the apps run with, as a command with runc's command
     * line (default `["runc"]`; `["crun"]`, or a wrapper before it).
     */
    ociRuntime: argv.optional(),
    /** `text` (default: message key=value …) or `json` (one object per line). */
    logFormat: z.enum(['text', 'json']).optional(),
  })
  .superRefine((config, ctx) => {
    const backend = config.boot?.backend ?? 'file';
    if (config.installer === 'image') {
      if (!config.slots)
        ctx.addIssue({
          code: 'custom',
          path: ['slots'],
          message: 'the image installer needs slots.a and slots.b',
        });
      if (backend === 'file')
        ctx.addIssue({
          code: 'custom',
          path: ['boot'],
          message: 'the image installer needs a bootloader: boot.backend uboot or grub',
        });
    } else if (backend !== 'file')
      ctx.addIssue({
        code: 'custom',
        path: ['boot'],
        message: `boot.backend ${backend} switches raw image slots: set installer to image`,
      });
    if (config.ostree && config.installer !== 'ostree')
      ctx.addIssue({
        code: 'custom',
        path: ['ostree'],
        message: 'ostree names a sysroot: set installer to ostree',
      });
    if (config.slots && config.slots.a === config.slots.b)
      ctx.addIssue({ code: 'custom', path: ['slots'], message: 'slots a and b must be different devices' });
  });
export type AgentConfig = z.infer<typeof agentConfigSchema>;
export type AgentConfigInput = z.input<typeof agentConfigSchema>;

/** Reads and validates a configuration file: size cap first, then JSON, then the schema. */
export async function loadAgentConfig(file: string): Promise<AgentConfig> {
  const handle = await open(file, 'r').catch((err: unknown) => {
    throw new UprollError(
      'FILE_NOT_FOUND',
      `cannot open the agent configuration ${file}: ${(err as Error).message}`,
    );
  });
  try {
    const buffer = Buffer.alloc(MAX_AGENT_CONFIG_BYTES + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, 0);
    return parseJson(agentConfigSchema, buffer.subarray(0, bytesRead), {
      maxBytes: MAX_AGENT_CONFIG_BYTES,
      what: `the agent configuration ${file}`,
    });
  } finally {
    await handle.close();
  }
}

/** A configuration file's settings with the command line's on top, validated again as a whole. */
export function mergeAgentConfig(file: AgentConfigInput, flags: AgentConfigInput, what: string): AgentConfig {
  const defined = Object.fromEntries(Object.entries(flags).filter(([, value]) => value !== undefined));
  const boot =
    flags.boot && file.boot?.backend === flags.boot.backend
      ? { ...file.boot, ...flags.boot }
      : (flags.boot ?? file.boot);
  const slots = flags.slots || file.slots ? { ...file.slots, ...flags.slots } : undefined;
  return parseValue(
    agentConfigSchema,
    { ...file, ...defined, ...(boot ? { boot } : {}), ...(slots ? { slots } : {}) },
    what,
  );
}

/** The installer, (for raw images) the bootloader and the apps' OCI runtime a configuration names. */
export function agentPartsFor(
  config: AgentConfig,
  dataDir: string,
): {
  installer: 'ab' | 'ostree' | Installer;
  bootloader?: Bootloader;
  ociRuntime: readonly [string, ...string[]];
} {
  const ociRuntime = config.ociRuntime ?? ['runc'];
  if (config.installer !== 'image' || !config.slots || !config.boot || config.boot.backend === 'file')
    return { installer: config.installer === 'ostree' ? 'ostree' : 'ab', ociRuntime };
  const boot = config.boot;
  const slots = config.slots;
  const env =
    boot.backend === 'uboot'
      ? new UBootEnv({
          config: boot.fwEnvConfig,
          ...(boot.trialBoots ? { trialBoots: boot.trialBoots } : {}),
        })
      : new GrubEnv({ file: boot.grubenv, ...(boot.trialBoots ? { trialBoots: boot.trialBoots } : {}) });
  const cmdline = config.bootedSlot?.path ?? '/proc/cmdline';
  return {
    ociRuntime,
    installer: new RawImageInstaller(dataDir, { slots }),
    bootloader: {
      env,
      bootedSlot: () => bootedSlotFromCmdline({ path: cmdline, devices: slots }),
      reboot: rebootCommand(config.rebootCommand ?? ['systemctl', 'reboot']),
    },
  };
}
