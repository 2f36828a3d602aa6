import { once } from 'node:events';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  healthCheckSchema,
  isUprollError,
  isValidTimezone,
  parseValue,
  UprollError,
} from '../../core/index.ts';
import {
  formatLogRecord,
  isJournalStream,
  loadDeviceBundle,
  serviceNotifierFrom,
  startDeviceAgent,
  updateStepRecord,
  watchdogIntervalMs,
  type LogFormat,
  type LogRecord,
  type PhaseBoundary,
} from '../../agent/index.ts';
import { processIo, type Io } from '../command.ts';
import { systemClock } from '../system-clock.ts';

const USAGE = `uproll-agent: the Uproll device agent (update manager + NATS cloud client).

Usage:
  uproll-agent --bundle DIR --data-dir DIR [options]

Options:
  --bundle DIR          the device's identity bundle (uproll devices provision)
  --data-dir DIR        where the agent keeps its state: boot control, objects,
                        deployments, history, undelivered reports, trusted metadata
  --installer KIND      ab (default: two slot directories) or ostree (with --ostree-sysroot:
                        OSTree system deployments; without: a local OSTree repo of files)
  --ostree-sysroot DIR  the OSTree sysroot to deploy into (/ on an OSTree device): each revision's
                        OSTree commit is pulled from the Image repository's /ostree/ and deployed
                        with ostree admin deploy; needs --ostree-os
  --ostree-os NAME      the OSTree OS (stateroot) name under DIR/ostree/deploy/
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
  bundle: { type: 'string' },
  'data-dir': { type: 'string' },
  installer: { type: 'string' },
  'ostree-sysroot': { type: 'string' },
  'ostree-os': { type: 'string' },
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
    const { values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    if (!values.bundle || !values['data-dir']) throw new Usage('--bundle and --data-dir are required');
    const style = values['log-format'] ?? 'text';
    if (style !== 'text' && style !== 'json') throw new Usage('--log-format is text or json');
    format = { style, journal: isJournalStream(process.env), tag: 'uproll-agent' };
    const write = (record: LogRecord) => io.err(formatLogRecord(record, format));
    const installer = values.installer ?? 'ab';
    if (installer !== 'ab' && installer !== 'ostree') throw new Usage('--installer is ab or ostree');
    const sysroot = values['ostree-sysroot'];
    const os = values['ostree-os'];
    if ((sysroot === undefined) !== (os === undefined))
      throw new Usage('--ostree-sysroot and --ostree-os go together');
    if (sysroot !== undefined && installer !== 'ostree')
      throw new Usage('--ostree-sysroot needs --installer ostree');
    if (sysroot !== undefined && os !== undefined) await assertSysroot(sysroot, os);
    const imageUrl = values['image-url']?.replace(/\/?$/, '/');
    const identity = await loadDeviceBundle(values.bundle, {
      ...(imageUrl
        ? { imageMetadataUrl: `${imageUrl}metadata/`, imageTargetsUrl: `${imageUrl}targets/` }
        : {}),
      ...(values['director-url'] ? { directorMetadataUrl: values['director-url'] } : {}),
      ...(values.nats ? { natsServers: values.nats } : {}),
    });
    const healthCheck = values['health-cmd']
      ? parseValue(
          healthCheckSchema,
          {
            command: ['sh', '-c', values['health-cmd']],
            timeoutMs: Number(values['health-timeout'] ?? 30_000),
          },
          '--health-cmd / --health-timeout',
        )
      : undefined;
    if (values.timezone !== undefined && !isValidTimezone(values.timezone))
      throw new Usage(`--timezone ${JSON.stringify(values.timezone)} is not a known IANA time zone`);
    await mkdir(values['data-dir'], { recursive: true, mode: 0o700 });
    const log = (message: string) => write({ priority: 'info', message });
    const service = serviceNotifierFrom(process.env, { log });
    const watchdogMs = service.enabled ? watchdogIntervalMs(process.env, process.pid) : undefined;
    const agent = await startDeviceAgent({
      identity,
      dataDir: values['data-dir'],
      clock: systemClock,
      installer,
      ...(sysroot !== undefined && os !== undefined ? { ostree: { sysroot, os } } : {}),
      ...(healthCheck ? { healthCheck } : {}),
      withoutCloud: values['no-cloud'] ?? false,
      ...(values.timezone ? { timezone: values.timezone } : {}),
      log,
      onStep: (step) => write(updateStepRecord(step)),
      service,
      ...(watchdogMs ? { watchdogMs } : {}),
      onBoundary: (boundary) => {
        if (boundary === CRASH_AT) process.kill(process.pid, 'SIGKILL');
      },
    });
    log(`${agent.deviceId} ready, control socket ${agent.controlSocket}`);
    await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
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
