import { request, type IncomingMessage } from 'node:http';
import { UprollError, type CommandReply, type DownloadProgress, type UpdateCommand } from '../core/index.ts';
import type { AppStatus } from './apps/index.ts';
import type { BootControl } from './boot-control.ts';
import type { ControlCommand } from './control-socket.ts';
import type { JournalEntry } from './report-journal.ts';
import type { HistoryEntry } from './revision-history.ts';
import type { BootEnvRepair, UpdateManager } from './update-manager.ts';

/**
 * A client of the update manager's control socket: what a cloud client on
 * the device uses to drive updates and hear about their progress.
 */
export class ControlClient {
  readonly socketPath: string;

  constructor(socketPath: string) {
    this.socketPath = socketPath;
  }

  status(): Promise<{
    installer: string;
    bootControl: BootControl;
    /** With a bootloader (raw image slots): its backend, the slot that booted, what it boots next. */
    bootloader?: Awaited<ReturnType<UpdateManager['bootloaderStatus']>>;
    /** The boot environment this start found damaged and recreated. */
    bootEnvRepaired?: BootEnvRepair;
    running: string | null;
    progress?: DownloadProgress;
    /** Each app the active revision runs: running or exited, exit code, restarts. */
    apps: AppStatus[];
  }> {
    return this.#call('GET', '/v1/status');
  }

  history(): Promise<HistoryEntry[]> {
    return this.#call('GET', '/v1/history');
  }

  /** Stages and runs an update; the reply says whether the device accepted it. */
  update(command: UpdateCommand): Promise<CommandReply> {
    return this.#call('POST', '/v1/updates', command, [202, 409]);
  }

  /** Hands over an object (e.g. from removable media) so the update need not download it. */
  putObject(sha256: string, bytes: Uint8Array): Promise<{ sha256: string; length: number }> {
    return this.#call('PUT', `/v1/objects/${sha256}`, bytes, [201]);
  }

  /** Installs a revision from history, commits a trial, or rolls back. */
  command(command: ControlCommand): Promise<unknown> {
    return this.#call('POST', '/v1/commands', command);
  }

  /** Confirms the reports up to `upto` were delivered; the update manager may forget them. */
  ack(upto: number): Promise<{ acked: number }> {
    return this.#call('POST', '/v1/events/ack', { upto });
  }

  /**
   * Follows the reports, in order, from after `after` (a report number);
   * `onEvent` is awaited before the next one is handed over.
   */
  events(
    after: number,
    onEvent: (entry: JournalEntry) => Promise<void>,
  ): { close(): void; done: Promise<void> } {
    let closed = false;
    let response: IncomingMessage | undefined;
    const done = new Promise<void>((resolve, reject) => {
      const req = request(
        { socketPath: this.socketPath, path: `/v1/events?after=${after}`, method: 'GET' },
        (res) => {
          response = res;
          let buffer = '';
          let chain = Promise.resolve();
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffer += chunk;
            for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              const data = /^data: (.*)$/m.exec(block)?.[1];
              if (data) chain = chain.then(() => onEvent(JSON.parse(data) as JournalEntry));
            }
          });
          // The stream ends when the socket closes it, or when `close()` is called.
          res.on('close', () => void chain.then(resolve, reject));
          res.on('error', (err) => (closed ? resolve() : reject(err)));
        },
      );
      req.on('error', (err) => (closed ? resolve() : reject(err)));
      req.end();
    });
    return {
      done,
      close() {
        closed = true;
        response?.destroy();
      },
    };
  }

  #call<T>(method: string, path: string, body?: unknown, okStatuses: number[] = [200]): Promise<T> {
    return new Promise((resolve, reject) => {
      const req = request(
        { socketPath: this.socketPath, path, method, headers: { 'content-type': 'application/json' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const value = text ? (JSON.parse(text) as unknown) : undefined;
            if (okStatuses.includes(res.statusCode ?? 0)) resolve(value as T);
            else {
              const problem = value as { code?: string; message?: string } | undefined;
              reject(
                new UprollError(
                  'COMMAND_REJECTED',
                  `${method} ${path}: ${problem?.code ?? res.statusCode}: ${problem?.message ?? ''}`,
                ),
              );
            }
          });
        },
      );
      req.on('error', reject);
      req.end(body === undefined || body instanceof Uint8Array ? body : JSON.stringify(body));
    });
  }
}
