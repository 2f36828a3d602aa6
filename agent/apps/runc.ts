import { execFile, spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { z } from 'zod';
import { parseJson, UprollError } from '../../core/index.ts';

const exec = promisify(execFile);
const MAX_STATE_BYTES = 64 * 1024;
const POLL_MS = 50;
const STARTUP_POLLS = 400;

const stateSchema = z.object({
  id: z.string(),
  status: z.enum(['creating', 'created', 'running', 'paused', 'stopped']),
  pid: z.int().min(0),
  created: z.string(),
});
/** What runc says of a container. */
export type ContainerState = z.infer<typeof stateSchema>;

/**
 * runc behind a small interface, with its own state root (`--root`) so the
 * agent's containers are its own. Containers run detached with stdout and
 * stderr appended to a log file.
 */
export class Runc {
  readonly root: string;
  readonly binary: string;

  constructor(root: string, binary = 'runc') {
    this.root = root;
    this.binary = binary;
  }

  /**
   * Creates and starts container `id` from `bundle` (config.json and
   * rootfs/). runc stays in the foreground as a child in its own process
   * group, so its exit code is the app's (`exited` resolves to it); the
   * container does not depend on the agent staying up. Resolves once the
   * container runs (or has already stopped).
   */
  async run(id: string, bundle: string, logPath: string): Promise<{ exited: Promise<number | null> }> {
    const log = await open(logPath, 'a');
    let child;
    try {
      child = spawn(this.binary, ['--root', this.root, 'run', '--keep', '--bundle', bundle, id], {
        stdio: ['ignore', log.fd, log.fd],
        detached: true,
      });
    } finally {
      await log.close(); // the child holds its own copy of the descriptor
    }
    child.unref();
    const exited = new Promise<number | null>((resolve) => {
      child.once('error', () => resolve(null));
      child.once('exit', (code) => resolve(code));
    });
    let ended = false;
    void exited.then(() => (ended = true));
    // Bounded: runc creates a container in well under STARTUP_POLLS * POLL_MS.
    for (let poll = 0; poll < STARTUP_POLLS && !ended; poll++) {
      const state = await this.state(id);
      if (state && (state.status === 'running' || state.status === 'stopped')) return { exited };
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    if (ended && (await this.state(id))) return { exited };
    if (ended)
      throw new UprollError(
        'APP_START_FAILED',
        `${this.binary} run ${id} exited ${await exited} before the container started (see ${logPath})`,
      );
    await this.delete(id);
    throw new UprollError(
      'APP_START_FAILED',
      `container ${id} did not start within ${(STARTUP_POLLS * POLL_MS) / 1000} s`,
    );
  }

  /** The container's state, or undefined when runc does not know it. */
  async state(id: string): Promise<ContainerState | undefined> {
    try {
      const { stdout } = await exec(this.binary, ['--root', this.root, 'state', id], {
        maxBuffer: MAX_STATE_BYTES,
      });
      return parseJson(stateSchema, stdout, { maxBytes: MAX_STATE_BYTES, what: `runc state ${id}` });
    } catch (err) {
      if (err instanceof UprollError) throw err;
      return undefined;
    }
  }

  /** The ids of every container under this root. */
  async list(): Promise<string[]> {
    const { stdout } = await exec(this.binary, ['--root', this.root, 'list', '--quiet'], {
      maxBuffer: 1024 * 1024,
    });
    return stdout.split('\n').filter((line) => line !== '');
  }

  /** Stops and removes the container (SIGKILL if it still runs); nothing when it does not exist. */
  async delete(id: string): Promise<void> {
    await exec(this.binary, ['--root', this.root, 'delete', '--force', id]).catch(() => {});
  }

  /** Sends `signal` to the container's init process. */
  async kill(id: string, signal = 'TERM'): Promise<void> {
    await exec(this.binary, ['--root', this.root, 'kill', id, signal]);
  }

  /** Runs `argv` inside the running container; resolves to its exit code. */
  async exec(id: string, argv: readonly string[], timeoutMs: number): Promise<number> {
    try {
      await exec(this.binary, ['--root', this.root, 'exec', id, ...argv], {
        timeout: timeoutMs,
        maxBuffer: 1024 * 1024,
      });
      return 0;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      return typeof code === 'number' ? code : -1;
    }
  }
}
