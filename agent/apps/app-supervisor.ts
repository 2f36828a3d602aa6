import { createHash } from 'node:crypto';
import { chown, mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { parseJson, startOrder, UprollError, type App } from '../../core/index.ts';
import { writeFileAtomic } from '../../adapters/fs/index.ts';
import type { ObjectStore } from '../object-store.ts';
import { httpProbePasses } from './http-probe.ts';
import { prepareBundle } from './image-bundle.ts';
import { imageUser } from './image-user.ts';
import { Runc } from './runc.ts';
import { runtimeSpec } from './runtime-spec.ts';

/** Health goal of an app that names none: it keeps running this long after its start. */
export const DEFAULT_RUNNING_FOR_MS = 1000;
/** How much of an unhealthy app's output its error message carries. */
const MAX_TAIL_LINES = 10;
const MAX_TAIL_CHARS = 1000;
const POLL_MS = 100;

/** What the control socket's status shows of one app. */
export interface AppStatus {
  name: string;
  container: string;
  state: 'running' | 'exited' | 'missing' | 'starting';
  exitCode: number | null;
  restarts: number;
  startedAt: string | null;
  /** Its restart policy (`no`, `on-failure`, `always`): whether a stopped container comes back. */
  restart: string;
}

const currentSchema = z.object({
  apps: z.array(z.object({ name: z.string(), container: z.string(), restart: z.string() })).max(64),
});

/**
 * Runs a revision's apps as OCI containers (runc or crun) under `<data>/apps`. A
 * container's id names the app and a hash of everything it runs with
 * (image, command, env, volumes), so a switch keeps an unchanged app's
 * container as it is and replaces only the changed ones. The set that
 * should run is written to `current.json` before containers change, so an
 * agent that dies mid-switch converges to one set at its next start.
 */
export class AppSupervisor {
  readonly dir: string;
  readonly runc: Runc;
  readonly #objects: ObjectStore;
  readonly #restarts = new Map<string, number>();
  /** The apps the last switch made run, by container id (what a restart needs). */
  readonly #wanted = new Map<string, App>();
  #switching = false;

  readonly #onStarted: ((container: string) => Promise<void> | void) | undefined;

  constructor(options: {
    dataDir: string;
    objects: ObjectStore;
    runc?: Runc;
    /** The OCI runtime's command when no `runc` is given (default `runc`; `crun` works too). */
    ociRuntime?: readonly [string, ...string[]];
    /** Test hook: called after each container a switch starts (crash tests stop there). */
    onStarted?: (container: string) => Promise<void> | void;
  }) {
    this.#onStarted = options.onStarted;
    // Absolute: the OCI runtime resolves a relative rootfs against the bundle, not our directory.
    this.dir = resolve(options.dataDir, 'apps');
    this.runc = options.runc ?? new Runc(join(this.dir, 'runc'), options.ociRuntime);
    this.#objects = options.objects;
  }

  /** Unpacks (or reuses) every app's image bundle, each blob checked; changes nothing that runs. */
  async prepare(apps: readonly App[]): Promise<void> {
    for (const app of apps) await prepareBundle(app, this.#objects, this.dir);
  }

  /**
   * Makes exactly `apps` run: containers of apps no longer wanted or
   * changed are deleted, new ones started in `after` order. Returns the
   * containers it started (those whose health goal is still to be met).
   */
  async switchTo(apps: readonly App[]): Promise<string[]> {
    this.#switching = true;
    try {
      return await this.#switchTo(apps);
    } finally {
      this.#switching = false;
    }
  }

  async #switchTo(apps: readonly App[]): Promise<string[]> {
    const ordered = startOrder(apps);
    if (!ordered) throw new UprollError('INVALID_INPUT', 'the apps\u2019 `after` lists form a cycle');
    const wanted = new Map(ordered.map((app) => [containerIdOf(app), app]));
    const existing = await stat(this.runc.root).then(
      () => this.runc.list(),
      () => [] as string[],
    );
    if (wanted.size === 0 && existing.length === 0) return []; // a device without apps never calls runc
    await mkdir(join(this.dir, 'logs'), { recursive: true });
    await writeFileAtomic(
      join(this.dir, 'current.json'),
      `${JSON.stringify({ apps: ordered.map((app) => ({ name: app.name, container: containerIdOf(app), restart: app.restart })) })}\n`,
    );
    this.#wanted.clear();
    for (const [id, app] of wanted) this.#wanted.set(id, app);
    for (const id of existing) if (!wanted.has(id)) await this.runc.delete(id);
    const started: string[] = [];
    for (const [id, app] of wanted) {
      const state = await this.runc.state(id);
      if (state?.status === 'running') continue;
      if (state) await this.runc.delete(id); // stopped or half made: start it afresh
      await this.#start(id, app);
      started.push(id);
      await this.#onStarted?.(id);
    }
    return started;
  }

  async #start(id: string, app: App): Promise<void> {
    const bundle = await prepareBundle(app, this.#objects, this.dir);
    const user = await imageUser(bundle.config, bundle.rootfs, app.name);
    const volumes = new Map<string, string>();
    for (const volume of app.volumes ?? []) {
      const dir = join(this.dir, 'volumes', app.name, volume.name);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await chown(dir, user.uid, user.gid); // the app's own data: it must write there as whoever it runs as
      volumes.set(volume.name, dir);
    }
    // config.json lives in a per-container directory whose rootfs is the shared, read-only image bundle.
    const containerDir = join(this.dir, 'containers', id);
    await mkdir(containerDir, { recursive: true });
    await writeFile(
      join(containerDir, 'config.json'),
      JSON.stringify({
        ...runtimeSpec(app, bundle.config, volumes, user),
        root: { path: bundle.rootfs, readonly: true },
      }),
    );
    // How it ends is in its exit record (Runc), which outlives this agent process.
    await this.runc.run(id, containerDir, this.logOf(id));
  }

  /**
   * Waits until every app in `apps` meets its health goal: the ones in
   * `started` by their goal (`runningForMs` unbroken, `exec` exiting 0, or
   * an `http` GET answered),
   * the others by still running. APP_UNHEALTHY names the first app that
   * does not, with the last lines of its output.
   */
  async awaitHealthy(apps: readonly App[], started: readonly string[]): Promise<void> {
    for (const app of startOrder(apps) ?? []) {
      const id = containerIdOf(app);
      const health = app.health ?? { runningForMs: DEFAULT_RUNNING_FOR_MS };
      const ok = !started.includes(id)
        ? (await this.runc.state(id))?.status === 'running'
        : 'exec' in health
          ? await this.#probePasses(id, health, () =>
              this.runc.exec(id, health.exec, health.timeoutMs).then((code) => code === 0),
            )
          : 'http' in health
            ? await this.#probePasses(id, health, (pid) =>
                httpProbePasses(pid, health.http, health.timeoutMs),
              )
            : await this.#keepsRunning(id, health.runningForMs);
      if (!ok) {
        const code = (await this.runc.state(id))?.exitCode;
        throw new UprollError(
          'APP_UNHEALTHY',
          `app ${app.name} did not reach its health goal${code === undefined || code === null ? '' : ` (exit code ${code})`}; its last output:\n${await this.tail(id)}`,
        );
      }
    }
  }

  async #keepsRunning(id: string, ms: number): Promise<boolean> {
    const first = await this.runc.state(id);
    if (first?.status !== 'running') return false;
    // Bounded: one poll per POLL_MS of the goal, plus the last look.
    for (let waited = 0; waited < ms; waited += POLL_MS) {
      await delay(Math.min(POLL_MS, ms - waited));
      const now = await this.runc.state(id);
      if (now?.status !== 'running' || now.pid !== first.pid) return false;
    }
    return true;
  }

  /** Tries `probe` up to `attempts` times while the container runs (it gets the container's init pid). */
  async #probePasses(
    id: string,
    health: { attempts: number; intervalMs: number },
    probe: (pid: number) => Promise<boolean>,
  ): Promise<boolean> {
    for (let attempt = 0; attempt < health.attempts; attempt++) {
      if (attempt > 0) await delay(health.intervalMs);
      const state = await this.runc.state(id);
      if (state?.status !== 'running') return false;
      if (await probe(state.pid)) return true;
    }
    return false;
  }

  /**
   * Applies each app's restart policy once: a container that stopped is
   * started again under `always`, and under `on-failure` when it exited
   * with a code other than 0 (or one the agent could not see). Returns the
   * apps restarted. The agent calls it periodically ({@link supervise}).
   */
  async superviseOnce(): Promise<string[]> {
    const restarted: string[] = [];
    if (this.#switching) return restarted; // a switch decides what runs
    for (const [id, app] of this.#wanted) {
      if (app.restart === 'no') continue;
      const state = await this.runc.state(id);
      if (state?.status !== 'stopped') continue;
      const code = state.exitCode;
      if (app.restart === 'on-failure' && code === 0) continue;
      await this.runc.delete(id);
      await this.#start(id, app);
      this.#restarts.set(id, (this.#restarts.get(id) ?? 0) + 1);
      restarted.push(app.name);
    }
    return restarted;
  }

  /** Runs {@link superviseOnce} every `intervalMs` until the returned function is called. */
  supervise(intervalMs: number, log: (line: string) => void = () => {}): () => void {
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      this.superviseOnce()
        .then((names) => names.forEach((name) => log(`app ${name} stopped: restarted by its restart policy`)))
        .catch((err: unknown) => log(`supervising apps failed: ${(err as Error).message}`))
        .finally(() => (busy = false));
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** Each app that should run, with its container's state, exit code and restarts. */
  async status(): Promise<AppStatus[]> {
    const text = await readFile(join(this.dir, 'current.json')).catch(() => undefined);
    if (!text) return [];
    const current = parseJson(currentSchema, text, { maxBytes: 64 * 1024, what: 'apps/current.json' });
    const statuses: AppStatus[] = [];
    for (const { name, container, restart } of current.apps) {
      const state = await this.runc.state(container);
      statuses.push({
        name,
        container,
        state: !state
          ? 'missing'
          : state.status === 'stopped'
            ? 'exited'
            : state.status === 'running'
              ? 'running'
              : 'starting',
        exitCode: state?.status === 'stopped' ? (state.exitCode ?? null) : null,
        restarts: this.#restarts.get(container) ?? 0,
        startedAt: state?.created ?? null,
        restart,
      });
    }
    return statuses;
  }

  /**
   * Frees the bundles of images no app in `keep` uses (revisions kept in
   * history still may), and the config and output of containers that no
   * longer exist. Volumes are never touched: they are the apps' data.
   */
  async prune(keep: readonly App[]): Promise<void> {
    const manifests = new Set(keep.map((app) => app.image.manifest));
    const bundles = join(this.dir, 'bundles');
    for (const name of await readdir(bundles).catch(() => [] as string[]))
      if (!manifests.has(name)) await rm(join(bundles, name), { recursive: true, force: true });
    const alive = new Set(
      await stat(this.runc.root).then(
        () => this.runc.list(),
        () => [] as string[],
      ),
    );
    for (const id of await readdir(join(this.dir, 'containers')).catch(() => [] as string[]))
      if (!alive.has(id)) {
        await rm(join(this.dir, 'containers', id), { recursive: true, force: true });
        await rm(this.logOf(id), { force: true });
      }
  }

  /** The output file of a container. */
  logOf(id: string): string {
    return join(this.dir, 'logs', `${id}.log`);
  }

  /** The last lines a container wrote (capped). */
  async tail(id: string): Promise<string> {
    const file = await open(this.logOf(id), 'r').catch(() => undefined);
    if (!file) return '(no output)';
    try {
      const { size } = await file.stat();
      const length = Math.min(size, 4096);
      const buffer = Buffer.alloc(length);
      await file.read(buffer, 0, length, size - length);
      const lines = buffer.toString('utf8').trimEnd().split('\n').slice(-MAX_TAIL_LINES).join('\n');
      return lines.length > MAX_TAIL_CHARS ? lines.slice(-MAX_TAIL_CHARS) : lines;
    } finally {
      await file.close();
    }
  }
}

/** The container id of an app: its name and a hash of what it runs with (not its place in the start order). */
export function containerIdOf(app: App): string {
  const runs = {
    image: app.image,
    command: app.command,
    env: app.env,
    volumes: app.volumes,
    restart: app.restart,
  };
  const hash = createHash('sha256').update(JSON.stringify(runs)).digest('hex').slice(0, 12);
  return `uproll-${app.name}-${hash}`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
