import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isUprollError, UprollError } from '../../core/index.ts';
import {
  agentPartsFor,
  formatLogRecord,
  isJournalStream,
  loadAgentConfig,
  loadDeviceBundle,
  mergeAgentConfig,
  serviceNotifierFrom,
  startDeviceAgent,
  updateStepRecord,
  watchdogIntervalMs,
  type AgentConfigInput,
  type LogFormat,
  type LogRecord,
  type PhaseBoundary,
} from '../../agent/index.ts';
import { processIo, type Io } from '../command.ts';
import { systemClock } from '../system-clock.ts';

const USAGE = `uproll-agent: the Uproll device agent (update manager + NATS cloud client).

Usage:
  uproll-agent --bundle DIR --data-dir DIR [options]
  uproll-agent --config FILE [options]

Options:
  --config FILE         JSON configuration, at most 64 KiB, unknown keys refused: bundle, dataDir,
                        installer, slots {a, b}, boot {backend, fwEnvConfig | grubenv, trialBoots},
                        bootedSlot {source: "cmdline", path}, rebootCommand [argv], healthCheck
                        {command, timeoutMs, ...}, ostree {sysroot, os}, imageUrl, directorUrl,
                        nats, timezone, cloud, logFormat (absolute paths; see the README's device
                        section); options override it
  --bundle DIR          the device's identity bundle (uproll devices provision)
  --data-dir DIR        where the agent keeps its state: boot control, objects,
                        deployments, history, undelivered reports, trusted metadata
  --installer KIND      ab (default: two slot directories, switched by the agent),
                        ostree (with --ostree-sysroot: OSTree system deployments; without: a
                        local OSTree repo of files) or image (raw rootfs images into A/B slot
                        devices, switched by the bootloader: needs --boot-backend uboot|grub)
  --ostree-sysroot DIR  the OSTree sysroot to deploy into (/ on an OSTree device): each revision's
                        OSTree commit is pulled from the Image repository's /ostree/ and deployed
                        with ostree admin deploy; needs --ostree-os
  --ostree-os NAME      the OSTree OS (stateroot) name under DIR/ostree/deploy/
  --slot-a DEV, --slot-b DEV
                        the block devices of slots a and b (installer image)
  --boot-backend KIND   file (default: the agent's boot-control.json, no reboot), uboot
                        (fw_setenv on a redundant environment) or grub (grub-editenv)
  --fw-env-config FILE  the fw_env.config naming the U-Boot environment's two copies
  --grubenv FILE        the grubenv file GRUB's load_env/save_env use
  --trial-boots N       boots the bootloader gives a trial slot before it falls back (1-3, default 1)
  --cmdline FILE        where the booted slot is read (uproll.slot= or root=; default /proc/cmdline)
  --reboot-cmd CMD      shell command that reboots (default: systemctl reboot)
  --health-cmd CMD      shell command deciding a new revision is healthy (exit 0), used
                        when the revision names no health check; runs in the deployment
  --health-timeout MS   time limit of the health command (default 30000)
  --image-url URL       Image repository base URL (default: from the bundle)
  --director-url URL    this device's Director metadata URL (default: from the bundle)
  --nats SERVERS        NATS server(s) (default: from the bundle)
  --timezone ZONE       IANA time zone the heartbeats report, which rollouts' maintenance
                        windows are evaluated in (default: the system's)
  --no-cloud            do not connect to NATS: drive the agent through its control socket only
  --log-format FORMAT   text (default: message key=value ...) or json (one object per line);
                        under systemd, lines start with their journald priority
  --help                this text

The control socket is <data-dir>/control.sock (HTTP over a UNIX socket; see the README).
Runs until SIGINT or SIGTERM, then finishes the running update step and stops.
As a systemd notify service (NOTIFY_SOCKET) it says READY=1 once up, STATUS= per update
step, STOPPING=1 when it stops, and pings the watchdog (WATCHDOG_USEC) while its control
socket answers (device/systemd/uproll-agent.service).
Exit status 0 after a clean stop, 1 on a start-up failure (uproll-agent: CODE: message).`;

const OPTIONS = {
  config: { type: 'string' },
  bundle: { type: 'string' },
  'data-dir': { type: 'string' },
  installer: { type: 'string' },
  'ostree-sysroot': { type: 'string' },
  'ostree-os': { type: 'string' },
  'slot-a': { type: 'string' },
  'slot-b': { type: 'string' },
  'boot-backend': { type: 'string' },
  'fw-env-config': { type: 'string' },
  grubenv: { type: 'string' },
  'trial-boots': { type: 'string' },
  cmdline: { type: 'string' },
  'reboot-cmd': { type: 'string' },
  'health-cmd': { type: 'string' },
  'health-timeout': { type: 'string' },
  'image-url': { type: 'string' },
  'director-url': { type: 'string' },
  nats: { type: 'string' },
  timezone: { type: 'string' },
  'no-cloud': { type: 'boolean' },
  'log-format': { type: 'string' },
  help: { type: 'boolean' },
} as const;

/** Fault injection for crash tests: the agent SIGKILLs itself at this phase boundary. */
const CRASH_AT = process.env['UPROLL_AGENT_CRASH_AT'] as PhaseBoundary | undefined;

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let format: LogFormat = { style: 'text', journal: false, tag: 'uproll-agent' };
  try {
    const { values } = parseCommandLine(argv);
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    if ((values['ostree-sysroot'] === undefined) !== (values['ostree-os'] === undefined))
      throw new Usage('--ostree-sysroot and --ostree-os go together');
    if (values['log-format'] !== undefined && !['text', 'json'].includes(values['log-format']))
      throw new Usage('--log-format is text or json');
    const file: AgentConfigInput = values.config ? await loadAgentConfig(values.config) : {};
    if (values['ostree-sysroot'] !== undefined && (values.installer ?? file.installer) !== 'ostree')
      throw new Usage('--ostree-sysroot needs --installer ostree');
    const config = mergeAgentConfig(
      file,
      flagsOf(values, file),
      values.config ? `${values.config} with the command line` : 'the command line',
    );
    if (!config.bundle || !config.dataDir)
      throw new Usage('--bundle and --data-dir (or bundle and dataDir in --config) are required');
    format = {
      style: config.logFormat ?? 'text',
      journal: isJournalStream(process.env),
      tag: 'uproll-agent',
    };
    const write = (record: LogRecord) => io.err(formatLogRecord(record, format));
    if (config.ostree) await assertSysroot(config.ostree.sysroot, config.ostree.os);
    const imageUrl = config.imageUrl?.replace(/\/?$/, '/');
    const identity = await loadDeviceBundle(config.bundle, {
      ...(imageUrl
        ? { imageMetadataUrl: `${imageUrl}metadata/`, imageTargetsUrl: `${imageUrl}targets/` }
        : {}),
      ...(config.directorUrl ? { directorMetadataUrl: config.directorUrl } : {}),
      ...(config.nats ? { natsServers: config.nats } : {}),
    });
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    const { installer, bootloader, ociRuntime } = agentPartsFor(config, config.dataDir);
    const log = (message: string) => write({ priority: 'info', message });
    const service = serviceNotifierFrom(process.env, { log });
    const watchdogMs = service.enabled ? watchdogIntervalMs(process.env, process.pid) : undefined;
    const stopRequested = stopSignal();
    const starting = startDeviceAgent({
      identity,
      dataDir: config.dataDir,
      clock: systemClock,
      installer,
      ociRuntime,
      ...(config.ostree ? { ostree: config.ostree } : {}),
      ...(bootloader ? { bootloader } : {}),
      ...(config.healthCheck ? { healthCheck: config.healthCheck } : {}),
      withoutCloud: config.cloud === false,
      ...(config.timezone ? { timezone: config.timezone } : {}),
      log,
      onStep: (step) => write(updateStepRecord(step)),
      service,
      ...(watchdogMs ? { watchdogMs } : {}),
      onBoundary: (boundary) => {
        if (boundary === CRASH_AT) process.kill(process.pid, 'SIGKILL');
      },
      onReady: stopRequested.up,
    });
    const cloudless = config.cloud === false || !identity.nats;
    const agent = await Promise.race([
      starting,
      // A stop after READY while the start still waits for NATS (for as long as it is away)
      // ends the process at once; without the cloud side, nothing is left to wait for.
      stopRequested.signal.then((signal) => (cloudless ? starting : dieOf(signal))),
    ]);
    log(`${agent.deviceId} ready, control socket ${agent.controlSocket}`);
    await stopRequested.signal;
    await agent.stop();
    return 0;
  } catch (err) {
    if (err instanceof Usage) {
      io.err(`uproll-agent: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    const code = isUprollError(err) ? err.code : 'FAILED';
    io.err(formatLogRecord({ priority: 'err', message: `${code}: ${(err as Error).message}` }, format));
    return 1;
  }
}

class Usage extends Error {}

/** The command line, or a Usage error (exit 2, as the CLI's) when it cannot be understood. */
function parseCommandLine(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))
      throw new Usage((err as Error).message);
    throw err;
  }
}

/**
 * SIGINT/SIGTERM, handled from before the agent says it is ready (READY=1):
 * a stop that comes right after must be a clean stop, not the signal's
 * default death. Until `up()`, a signal still ends the process at once, as
 * before (the agent has not settled what a crash left).
 */
function stopSignal(): { signal: Promise<NodeJS.Signals>; up: () => void } {
  let up = false;
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    const on = (received: NodeJS.Signals) => (up ? resolve(received) : dieOf(received));
    for (const name of ['SIGINT', 'SIGTERM'] as const) process.once(name, on);
  });
  return {
    signal,
    up: () => {
      up = true;
    },
  };
}

/** Dies of `signal`, as without a handler. */
function dieOf(signal: NodeJS.Signals): never {
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
  throw new Error(`${signal} did not end the process`); // unreachable: the default action ends it
}

/** Refuses to start on a sysroot without the OS: every update would fail on it. */
async function assertSysroot(sysroot: string, os: string): Promise<void> {
  const osDir = join(sysroot, 'ostree', 'deploy', os);
  if (
    !(await stat(osDir).then(
      (s) => s.isDirectory(),
      () => false,
    ))
  )
    throw new UprollError(
      'FILE_NOT_FOUND',
      `${sysroot} is not an OSTree sysroot with OS ${os}: no ${osDir} (ostree admin init-fs, os-init)`,
    );
}

type Values = ReturnType<
  typeof parseArgs<{ args: string[]; options: typeof OPTIONS; strict: true }>
>['values'];

/** The command line's settings, in the configuration file's terms (paths made absolute). */
function flagsOf(values: Values, file: AgentConfigInput): AgentConfigInput {
  const absolute = (path: string | undefined) => (path === undefined ? undefined : resolve(path));
  const backend =
    values['boot-backend'] ??
    (values['fw-env-config']
      ? 'uboot'
      : values.grubenv
        ? 'grub'
        : values['trial-boots']
          ? file.boot?.backend
          : undefined);
  const trialBoots = values['trial-boots'] === undefined ? undefined : Number(values['trial-boots']);
  const slotA = absolute(values['slot-a']);
  const slotB = absolute(values['slot-b']);
  return {
    bundle: absolute(values.bundle),
    dataDir: absolute(values['data-dir']),
    installer: values.installer as AgentConfigInput['installer'],
    ...(values['ostree-sysroot'] && values['ostree-os']
      ? { ostree: { sysroot: resolve(values['ostree-sysroot']), os: values['ostree-os'] } }
      : {}),
    logFormat: values['log-format'] as AgentConfigInput['logFormat'],
    ...(slotA || slotB
      ? {
          slots: { ...(slotA ? { a: slotA } : {}), ...(slotB ? { b: slotB } : {}) } as {
            a: string;
            b: string;
          },
        }
      : {}),
    ...(backend
      ? {
          boot: {
            backend,
            ...(values['fw-env-config'] ? { fwEnvConfig: absolute(values['fw-env-config']) } : {}),
            ...(values.grubenv ? { grubenv: absolute(values.grubenv) } : {}),
            ...(trialBoots === undefined ? {} : { trialBoots }),
          } as AgentConfigInput['boot'],
        }
      : {}),
    ...(values.cmdline ? { bootedSlot: { source: 'cmdline' as const, path: resolve(values.cmdline) } } : {}),
    ...(values['reboot-cmd']
      ? { rebootCommand: ['sh', '-c', values['reboot-cmd']] as [string, ...string[]] }
      : {}),
    ...(values['health-cmd']
      ? {
          healthCheck: {
            command: ['sh', '-c', values['health-cmd']] as [string, ...string[]],
            timeoutMs: Number(values['health-timeout'] ?? 30_000),
          },
        }
      : {}),
    imageUrl: values['image-url'],
    directorUrl: values['director-url'],
    nats: values.nats,
    timezone: values.timezone,
    ...(values['no-cloud'] ? { cloud: false } : {}),
  };
}
