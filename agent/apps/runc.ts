import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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
/** What the runtime says of a container; a stopped one also says how its process ended, when known. */
export type ContainerState = z.infer<typeof stateSchema> & { exitCode?: number | null };

/** What the host-side wrapper writes when the runtime's `run` returns: the app's exit code. */
const exitRecordSchema = z.object({ code: z.int().min(0).max(255), created: z.string().max(64) });

/**
 * Runs the runtime's `run` in the foreground and, when it returns, writes
 * its exit code (the app's) atomically to $UPROLL_EXIT. It is the host's sh,
 * not anything in the image, and it lives in the container's process group,
 * not the agent's: an agent that dies or restarts still learns how the app
 * ended.
 */
const EXIT_RECORDER = [
  'started=$(date -u +%Y-%m-%dT%H:%M:%SZ)',
  '"$@"',
  'code=$?',
  `printf '{"code":%s,"created":"%s"}\\n' "$code" "$started" > "$UPROLL_EXIT.partial" && mv "$UPROLL_EXIT.partial" "$UPROLL_EXIT"`,
  'exit "$code"',
].join('; ');

/**
 * An OCI runtime with runc's command line (runc, crun) behind a small
 * interface, with its own state root (`--root`) so the agent's containers
 * are its own. `command` is the runtime's argv (a wrapper may come first).
 * Containers run detached with stdout and stderr appended to a log file.
 * The runtime deletes a container whose process ended (crun has no
 * `--keep`); the exit record under `exitsDir` keeps it visible as stopped,
 * with its exit code, until it is deleted or started again. Each run has a
 * nonce (`<id>.run` names the current one, `<id>.<nonce>.exit` is its
 * record), so the late record of a run that was deleted (its recorder
 * writes after the runtime returns) never brings that container back.
 */
export class Runc {
  readonly root: string;
  readonly command: readonly [string, ...string[]];
  readonly exitsDir: string;

  constructor(root: string, command: readonly [string, ...string[]] = ['runc']) {
    this.root = root;
    this.command = command;
    this.exitsDir = `${root}-exits`;
  }

  /** The runtime's program (for messages). */
  get binary(): string {
    return this.command.at(-1) ?? this.command[0];
  }

  /**
   * Creates and starts container `id` from `bundle` (config.json and
   * rootfs/). The runtime stays in the foreground, in its own process
   * group, under the exit recorder, so its exit code is the app's
   * (`exited` resolves to it); the container does not depend on the agent
   * staying up. Resolves once the container runs (or has already stopped).
   */
  async run(id: string, bundle: string, logPath: string): Promise<{ exited: Promise<number | null> }> {
    await mkdir(this.exitsDir, { recursive: true });
    await this.#forgetRuns(id);
    const nonce = randomBytes(6).toString('hex');
    await writeFile(join(this.exitsDir, `${id}.run`), nonce);
    const log = await open(logPath, 'a');
    let child;
    try {
      child = spawn(
        'sh',
        [
          ...['-c', EXIT_RECORDER, 'sh', this.command[0]],
          // The runtime's own messages (e.g. runc's cgroup warnings as it ends) are not the app's output.
          ...this.#argv(
            '--log',
            join(this.exitsDir, `${id}.${nonce}.runtime.log`),
            'run',
            '--bundle',
            bundle,
            id,
          ),
        ],
        {
          stdio: ['ignore', log.fd, log.fd],
          detached: true,
          env: { ...process.env, UPROLL_EXIT: join(this.exitsDir, `${id}.${nonce}.exit`) },
        },
      );
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
    // Bounded: a runtime creates a container in well under STARTUP_POLLS * POLL_MS.
    for (let poll = 0; poll < STARTUP_POLLS && !ended; poll++) {
      const state = await this.state(id);
      if (state && (state.status === 'running' || state.status === 'stopped')) return { exited };
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    // It ended already: the app died at once (or the runtime refused its config); its log says which.
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

  /** The container's state, or undefined when the runtime does not know it and it left no exit record. */
  async state(id: string): Promise<ContainerState | undefined> {
    try {
      const { stdout } = await exec(this.command[0], [...this.#argv('state', id)], {
        maxBuffer: MAX_STATE_BYTES,
      });
      const state = parseJson(stateSchema, stdout, {
        maxBytes: MAX_STATE_BYTES,
        what: `${this.binary} state ${id}`,
      });
      if (state.status !== 'stopped') return state;
      return { ...state, exitCode: (await this.#exitRecord(id))?.code ?? null };
    } catch (err) {
      if (err instanceof UprollError) throw err;
    }
    const record = await this.#exitRecord(id);
    return record && { id, status: 'stopped', pid: 0, created: record.created, exitCode: record.code };
  }

  /** The ids of every container under this root, and of those that ended and are not deleted yet. */
  async list(): Promise<string[]> {
    const { stdout } = await exec(this.command[0], [...this.#argv('list', '--quiet')], {
      maxBuffer: 1024 * 1024,
    });
    const ids = new Set(stdout.split('\n').filter((line) => line !== ''));
    for (const name of await readdir(this.exitsDir).catch(() => [] as string[])) {
      const id = name.slice(0, -'.run'.length);
      if (name.endsWith('.run') && (await this.#exitRecord(id))) ids.add(id);
    }
    return [...ids];
  }

  /** Stops and removes the container (SIGKILL if it still runs) and its exit record; nothing when it does not exist. */
  async delete(id: string): Promise<void> {
    await exec(this.command[0], [...this.#argv('delete', '--force', id)]).catch(() => {});
    await this.#forgetRuns(id);
  }

  /** Sends `signal` to the container's init process. */
  async kill(id: string, signal = 'TERM'): Promise<void> {
    await exec(this.command[0], [...this.#argv('kill', id, signal)]);
  }

  /** Runs `argv` inside the running container; resolves to its exit code. */
  async exec(id: string, argv: readonly string[], timeoutMs: number): Promise<number> {
    try {
      await exec(this.command[0], [...this.#argv('exec', id, ...argv)], {
        timeout: timeoutMs,
        maxBuffer: 1024 * 1024,
      });
      return 0;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      return typeof code === 'number' ? code : -1;
    }
  }

  /** The runtime's command line for `args`, after the wrapper words and `--root`. */
  #argv(...args: string[]): string[] {
    return [...this.command.slice(1), '--root', this.root, ...args];
  }

  /** The record of the container's current run, once it ended; undefined while it runs or when it was deleted. */
  async #exitRecord(id: string): Promise<z.infer<typeof exitRecordSchema> | undefined> {
    const nonce = await readFile(join(this.exitsDir, `${id}.run`), 'utf8').catch(() => undefined);
    if (!nonce || !/^[0-9a-f]{12}$/.test(nonce)) return undefined;
    const text = await readFile(join(this.exitsDir, `${id}.${nonce}.exit`)).catch(() => undefined);
    if (!text) return undefined;
    return parseJson(exitRecordSchema, text, { maxBytes: 1024, what: `the exit record of ${id}` });
  }

  /** Drops the current-run pointer first (a late record is then ignored), then any records of the container. */
  async #forgetRuns(id: string): Promise<void> {
    await rm(join(this.exitsDir, `${id}.run`), { force: true });
    for (const name of await readdir(this.exitsDir).catch(() => [] as string[]))
      if (name.startsWith(`${id}.`)) await rm(join(this.exitsDir, name), { force: true });
  }
}
