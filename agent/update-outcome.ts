import {
  revisionObjects,
  revisionTargetPath,
  type App,
  type StateRevision,
  type Telemetry,
  type ErrorInfo,
} from '../core/index.ts';
import type { BootControl, Deployment } from './boot-control.ts';
import { runHealthCheck } from './health-check.ts';
import type { HistoryEntry } from './revision-history.ts';
import { describeError, slotOf, type Attempt, type UpdateParts } from './update-parts.ts';

/** Error messages travel in telemetry: an app's output in one is kept short. */
const MAX_ERROR_MESSAGE = 2000;

/**
 * How an update ends: a trial is committed or switched back, a failed
 * attempt is recorded. Each outcome goes into the history first, then
 * objects no kept revision needs are freed, then it is reported. The update
 * pipeline, commands and the recovery at start all end updates here.
 */
export class UpdateOutcomes {
  readonly #parts: UpdateParts;

  constructor(parts: UpdateParts) {
    this.#parts = parts;
  }

  /** The health check decides a trial: commit, or switch back. */
  async decide(
    active: Deployment,
    revision: StateRevision | undefined,
  ): Promise<'committed' | 'rolled_back'> {
    const { apps, installer, device } = this.#parts;
    const check = revision?.health ?? this.#parts.healthCheck;
    try {
      const wanted = revision?.apps ?? [];
      await apps.awaitHealthy(wanted, await apps.switchTo(wanted));
      if (check) {
        const dir = installer.pathOf(active.deployment);
        await runHealthCheck(check, {
          cwd: dir,
          env: {
            UPROLL_DEVICE_ID: device.deviceId,
            UPROLL_DEPLOYMENT: active.deployment,
            UPROLL_DEPLOYMENT_DIR: dir,
            UPROLL_REVISION: active.revision,
          },
        });
      }
    } catch (err) {
      const error = capped(describeError(err, 'HEALTH_CHECK_FAILED'));
      this.#parts.step({ step: 'unhealthy', rolloutId: active.rolloutId, revision: active.revision, error });
      await this.rollBack(active, error);
      return 'rolled_back';
    }
    await this.#parts.reporter.report(active, 'healthy', { deployment: active.deployment });
    await this.#parts.boundary('healthy');
    await this.commit(active);
    return 'committed';
  }

  async commit(active: Deployment): Promise<void> {
    // The boot environment first: once it is committed, the bootloader no longer falls back.
    await this.#parts.bootloader?.env.commit(slotOf(active.deployment));
    const control = await this.#parts.boot.commit();
    await this.#parts.installer.prune([
      active.deployment,
      ...(control.previous ? [control.previous.deployment] : []),
    ]);
    await this.settle(active, 'committed', { deployment: active.deployment });
  }

  async rollBack(failed: Deployment, error: ErrorInfo): Promise<void> {
    const back = await this.#parts.boot.rollback();
    const reboot = await this.enter(back);
    await this.startAppsOf(back);
    await this.settle(failed, 'rolled_back', { deployment: back.active?.deployment, error });
    await reboot();
  }

  /**
   * With a bootloader: makes the boot environment's default the slot `control`
   * names (the booted one when it names none); the returned function reboots
   * when that is not the slot running now (call it once the outcome is
   * recorded). Without one: the installer activates the deployment.
   */
  async enter(control: BootControl): Promise<() => Promise<void>> {
    const bootloader = this.#parts.bootloader;
    if (!bootloader) {
      if (control.active) await this.#parts.installer.activate(control.active.deployment);
      return async () => {};
    }
    const booted = await bootloader.bootedSlot();
    const slot = control.active ? slotOf(control.active.deployment) : booted;
    await bootloader.env.commit(slot);
    return slot === booted ? async () => {} : () => bootloader.reboot();
  }

  /**
   * Runs the apps of the revision `control` makes active (none without
   * one), its volumes untouched. A failure is logged: the rollback itself
   * stands, and the next start tries again.
   */
  async startAppsOf(control: BootControl): Promise<void> {
    try {
      const revision = control.active
        ? await this.#parts.history.revision(control.active.revision)
        : undefined;
      await this.#parts.apps.switchTo(revision?.apps ?? []);
    } catch (err) {
      this.#parts.log(
        `starting the apps of revision ${control.active?.revision ?? 'none'} failed: ${(err as Error).message}`,
      );
    }
  }

  /** Records the outcome in the history, frees objects no kept revision needs, then reports it. */
  async settle(
    deployment: Deployment,
    outcome: 'committed' | 'rolled_back',
    extra: Pick<Telemetry, 'deployment' | 'error'>,
  ): Promise<void> {
    await this.#parts.history.record({
      ...deployment,
      outcome,
      at: this.#parts.now().toISOString(),
      ...extra,
    });
    await this.#pruneObjects();
    await this.#parts.reporter.report(deployment, outcome, extra);
  }

  /**
   * Records and reports a failed attempt. The entry names the attempted
   * revision's target (as far as the device got to know it), never the one
   * that runs: the deployment is what still runs.
   */
  async fail(rolloutId: string, revision: string, error: ErrorInfo, attempted?: Attempt): Promise<void> {
    const control = await this.#parts.boot.read();
    const entry: HistoryEntry = {
      revision,
      rolloutId,
      deployment: control.active?.deployment ?? 'none',
      releaseCounter: attempted?.releaseCounter ?? 0,
      target: attempted?.target ?? { path: revisionTargetPath(revision), length: 0, hashes: {} },
      outcome: 'failed',
      at: this.#parts.now().toISOString(),
      error,
    };
    await this.#parts.history.record(entry);
    await this.#parts.reporter.report({ rolloutId, revision }, 'failed', {
      error,
      deployment: control.active?.deployment,
    });
  }

  /** Keeps the objects of every revision in the history; the rest go. */
  async #pruneObjects(): Promise<void> {
    const { history, objects, apps } = this.#parts;
    // A rootfs image lives on in its slot once written: keeping a copy per revision in history
    // would take a whole image each (reinstalling one from history downloads it again).
    const dropImages = this.#parts.installer.switchesByReboot === true;
    const keep = new Set<string>();
    const kept: App[] = [];
    for (const entry of await history.entries()) {
      const revision = await history.revision(entry.revision);
      for (const artifact of revision ? revisionObjects(revision) : [])
        if (!(dropImages && artifact.image)) keep.add(artifact.sha256);
      kept.push(...(revision?.apps ?? []));
    }
    await objects.prune(keep);
    await apps.prune(kept);
  }
}

function capped(error: ErrorInfo) {
  return error.message.length > MAX_ERROR_MESSAGE
    ? { ...error, message: `${error.message.slice(0, MAX_ERROR_MESSAGE)}…` }
    : error;
}
