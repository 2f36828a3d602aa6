import { execFile } from 'node:child_process';

/**
 * Tells the service manager how the agent is doing (the sd_notify(3)
 * protocol: `READY=1`, `WATCHDOG=1`, `STATUS=…`, `STOPPING=1`). Sending
 * never throws: a lost notification must not stop an update.
 */
export interface ServiceNotifier {
  /** False outside a notify service (no NOTIFY_SOCKET): every call then does nothing. */
  readonly enabled: boolean;
  /** Sends the assignments as one message, after every message sent before it. */
  notify(state: Readonly<Record<string, string>>): Promise<void>;
}

/** The notifier of a process that no service manager watches. */
export const noServiceNotifier: ServiceNotifier = { enabled: false, notify: () => Promise.resolve() };

export interface SystemdNotifierOptions {
  /** The program that sends one notification (default `systemd-notify` on PATH). */
  command?: string;
  log?: (line: string) => void;
}

/**
 * Notifies through systemd-notify(1). Node cannot send AF_UNIX datagrams,
 * and this needs no native module. systemd-notify sends from its own pid, so
 * the unit needs NotifyAccess=all. Its old race (it exits before systemd
 * reads the message, which systemd then cannot attribute to the unit) is
 * closed since systemd 246: without --no-block it waits on a BARRIER=1
 * message, which systemd answers only after the message before it.
 */
export function systemdNotifier(socket: string, options: SystemdNotifierOptions = {}): ServiceNotifier {
  const command = options.command ?? 'systemd-notify';
  const env = { NOTIFY_SOCKET: socket, PATH: process.env['PATH'] ?? '/usr/bin:/bin' };
  let last = Promise.resolve();
  return {
    enabled: true,
    notify(state) {
      // One assignment per line: a newline inside a value would start a forged one.
      const args = Object.entries(state).map(([key, value]) => `${key}=${value.replace(/[\r\n]+/g, ' ')}`);
      last = last.then(
        () =>
          new Promise<void>((resolve) => {
            execFile(command, args, { env, timeout: 10_000 }, (err, _stdout, stderr) => {
              if (err)
                options.log?.(
                  `service notification ${args.join(' ')} failed: ${stderr.trim() || err.message}`,
                );
              resolve();
            });
          }),
      );
      return last;
    },
  };
}

/**
 * The notifier for this process: systemd's when it runs as a notify service,
 * otherwise one that does nothing. NOTIFY_SOCKET is taken out of `env`, so
 * the processes the agent starts (health checks) cannot speak for it.
 */
export function serviceNotifierFrom(
  env: NodeJS.ProcessEnv,
  options: SystemdNotifierOptions = {},
): ServiceNotifier {
  const socket = env['NOTIFY_SOCKET'];
  delete env['NOTIFY_SOCKET'];
  return socket ? systemdNotifier(socket, options) : noServiceNotifier;
}
