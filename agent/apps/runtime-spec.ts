import { UprollError, type App, type OciConfig } from '../../core/index.ts';
import type { ProcessUser } from './image-user.ts';

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** The few capabilities an ordinary service needs (those `runc spec` grants), nothing more. */
const CAPABILITIES = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

/**
 * The OCI runtime config (config.json) of an app: its process from the
 * revision's `command` (else the image's Entrypoint + Cmd), the image's
 * environment with the revision's over it, each volume bound from
 * `volumeDirs`, as `user` (the image's User, resolved), and a minimal safe setup: no new privileges, a read-only
 * rootfs with a private /tmp, a private network namespace, no devices.
 */
export function runtimeSpec(
  app: App,
  image: OciConfig,
  volumeDirs: ReadonlyMap<string, string>,
  user: ProcessUser = { uid: 0, gid: 0 },
) {
  const args = app.command ?? [...(image.config?.Entrypoint ?? []), ...(image.config?.Cmd ?? [])];
  if (args.length === 0)
    throw new UprollError(
      'APP_START_FAILED',
      `app ${app.name}: neither the revision nor the image names a command`,
    );
  const env = new Map<string, string>();
  for (const line of [DEFAULT_PATH, ...(image.config?.Env ?? [])])
    env.set(line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1));
  for (const [name, value] of Object.entries(app.env ?? {})) env.set(name, value);
  env.set('UPROLL_APP', app.name);
  const cwd = image.config?.WorkingDir;
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: user.uid, gid: user.gid },
      args,
      env: [...env].map(([name, value]) => `${name}=${value}`),
      cwd: cwd?.startsWith('/') ? cwd : '/',
      capabilities: Object.fromEntries(
        ['bounding', 'effective', 'permitted'].map((set) => [set, CAPABILITIES]),
      ),
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: app.name,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
      },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      {
        destination: '/tmp',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'nodev', 'mode=1777', 'size=65536k'],
      },
      ...(app.volumes ?? []).map((volume) => {
        const source = volumeDirs.get(volume.name);
        if (!source) throw new Error(`no directory for volume ${volume.name} of app ${app.name}`);
        return {
          destination: volume.path,
          type: 'bind',
          source,
          options: ['rbind', 'rw', 'nosuid', 'nodev'],
        };
      }),
    ],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: ['pid', 'network', 'ipc', 'uts', 'mount'].map((type) => ({ type })),
      maskedPaths: [
        '/proc/acpi',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}
