import {
  isUprollError,
  missingObjects,
  revisionNameOf,
  revisionObjects,
  revisionTargetPath,
  sameOsPart,
  TERMINAL_PHASES,
  TRUST_ATTACK_CODES,
  UprollError,
  type App,
  type CommandReply,
  type DevicePhase,
  type DownloadProgress,
  type HealthCheck,
  type RevisionArtifact,
  type StateRevision,
  type Telemetry,
  type UpdateCommand,
  type UprollErrorCode,
  type Clock,
} from '../core/index.ts';
import type { Signer } from '../core/tuf/index.ts';
import { signDeviceManifest, signEcuVersionReport, type DeviceIdentity } from '../core/uptane/index.ts';
import type { DownloadOptions } from '../services/tuf/index.ts';
import { AppSupervisor } from './apps/index.ts';
import { secureDataDir } from './data-dir.ts';
import { BootControlFile, type BootControl, type Deployment } from './boot-control.ts';
import { bootVerdict, isSlot, type Bootloader, type Slot } from './boot/index.ts';
import { runHealthCheck } from './health-check.ts';
import type { Installer } from './installers/installer.ts';
import { ObjectStore } from './object-store.ts';
import { ReportJournal } from './report-journal.ts';
import { RevisionHistory, type HistoryEntry } from './revision-history.ts';
import type { UptaneClient } from './uptane-client.ts';
import { progressTenths, type UpdateStep } from './update-steps.ts';

/** Starts a trial revision (or an interrupted update) may take before the device gives up on it. */
export const MAX_BOOT_ATTEMPTS = 3;

export interface UpdateManagerOptions {
  device: DeviceIdentity;
  dataDir: string;
  installer: Installer;
  /** Full Uptane verification against the Director and the Image repository. */
  uptane: UptaneClient;
  /** Signs the device's version reports to the Director. */
  deviceKey: Signer;
  /** Used when a revision names no health check of its own; without either, every revision is healthy. */
  healthCheck?: HealthCheck;
  download?: Pick<DownloadOptions, 'attempts' | 'minBytesPerSecond' | 'windowMs'>;
  log?: (line: string) => void;
  /** Told every step of every update (accepted, downloading, …, committed): the agent's log lines. */
  onStep?: (step: UpdateStep) => void;
  /** When history entries and reports are made. */
  clock: Clock;
  /** Test hook: called at each phase boundary of an update, before the next step starts. */
  onBoundary?: (boundary: PhaseBoundary) => Promise<void> | void;
  /** Required by an installer that switches by rebooting (raw images): boot environment, booted slot, reboot. */
  bootloader?: Bootloader;
  /** Runs the revisions' apps (default: `ociRuntime` under `<dataDir>/apps`; never called on a device without apps). */
  apps?: AppSupervisor;
  /** The OCI runtime command of the default app supervisor (default `runc`; `crun` or a wrapper works too). */
  ociRuntime?: readonly [string, ...string[]];
}

/** The points between steps of an update where a device may lose power (crash tests name them). */
export type PhaseBoundary = 'downloaded' | 'verified' | 'writing' | 'switched' | 'healthy';

/** A boot environment the agent found damaged at start and made anew: when, and what it did. */
export interface BootEnvRepair {
  at: string;
  message: string;
}

/** What to install: a verified revision, and where the trust in it came from. */
/** The target of a revision the device set out to install, once the Director named it. */
type Attempt = Pick<Deployment, 'releaseCounter' | 'target'>;

interface InstallPlan extends Attempt {
  rolloutId: string;
  revision: StateRevision;
}

/**
 * The device's update manager. For a command it runs full Uptane
 * verification, fetches only the objects of the new state revision it does
 * not hold, writes the revision with its installer beside the running one,
 * switches atomically to it on trial, and lets the health check decide
 * commit or rollback. Every step is written to the report journal before it
 * is told. A crash at any point is settled at the next start: a trial counts
 * a boot attempt, an update in flight is resumed.
 */
export class UpdateManager {
  readonly boot: BootControlFile;
  readonly objects: ObjectStore;
  readonly journal: ReportJournal;
  readonly history: RevisionHistory;
  readonly apps: AppSupervisor;
  readonly #options: UpdateManagerOptions;
  #running: { rolloutId: string } | undefined;
  #progress: DownloadProgress | undefined;
  #last: Promise<void> = Promise.resolve();
  #bootEnvRepaired: BootEnvRepair | undefined;

  constructor(options: UpdateManagerOptions) {
    if (options.installer.switchesByReboot && !options.bootloader)
      throw new UprollError(
        'INVALID_INPUT',
        `the ${options.installer.kind} installer switches by rebooting: it needs a bootloader (uboot or grub)`,
      );
    this.#options = options;
    this.boot = new BootControlFile(options.dataDir);
    this.objects = new ObjectStore(options.dataDir);
    this.journal = new ReportJournal(options.dataDir, options.clock);
    this.history = new RevisionHistory(options.dataDir, (problem) => this.#log(problem));
    this.apps =
      options.apps ??
      new AppSupervisor({
        dataDir: options.dataDir,
        objects: this.objects,
        ...(options.ociRuntime ? { ociRuntime: options.ociRuntime } : {}),
      });
  }

  get installer(): Installer {
    return this.#options.installer;
  }

  get #primary() {
    const primary = this.#options.device.ecus[0];
    if (!primary) throw new Error(`device ${this.#options.device.deviceId} has no ECU`);
    return primary;
  }

  /** The rollout of the update running now, if any. */
  get running(): string | undefined {
    return this.#running?.rolloutId;
  }

  /** How far the download of the running update is, while it downloads. */
  get progress(): DownloadProgress | undefined {
    return this.#progress;
  }

  /**
   * The bootloader's side, for the status: its backend, the slot that
   * booted, and what the environment boots next. Undefined without a
   * bootloader; an environment that cannot be read is shown as an error.
   */
  async bootloaderStatus(): Promise<
    | { backend: string; booted: Slot; next: Slot | null; trialNotStarted: Slot | null }
    | { backend: string; error: { code: string; message: string } }
    | undefined
  > {
    const bootloader = this.#options.bootloader;
    if (!bootloader) return undefined;
    try {
      const [booted, env] = [await bootloader.bootedSlot(), await bootloader.env.read()];
      return {
        backend: bootloader.env.kind,
        booted,
        next: env.next ?? null,
        trialNotStarted: env.trialNotStarted ?? null,
      };
    } catch (err) {
      return { backend: bootloader.env.kind, error: describe(err, 'BOOT_CONTROL_FAILED') };
    }
  }

  /** The boot environment this start found damaged and recreated, if it did (the status and heartbeats tell it). */
  get bootEnvRepaired(): BootEnvRepair | undefined {
    return this.#bootEnvRepaired;
  }

  /** Resolves when the last update has finished, its manifest included. */
  async idle(): Promise<void> {
    await this.#last;
  }

  /**
   * Accepts or refuses an update command; an accepted one runs in the
   * background. A command for an update that runs or ran already is
   * acknowledged as a duplicate and never installs twice.
   */
  async accept(command: UpdateCommand): Promise<CommandReply> {
    if (this.#running?.rolloutId === command.rolloutId) return { accepted: true, duplicate: true };
    const done = (await this.history.entries()).find((entry) => entry.rolloutId === command.rolloutId);
    if (done) {
      this.#step({ step: 'accepted', ...updateOf(command), source: 'command', duplicate: true });
      await this.#report(done, done.outcome, { deployment: done.deployment, error: done.error });
      return { accepted: true, duplicate: true };
    }
    if (this.#running) return busy(this.#running.rolloutId);
    await this.history.setPending({ command, starts: 0 });
    this.#step({ step: 'accepted', ...updateOf(command), source: 'command' });
    this.#run(command.rolloutId, () => this.#update(command));
    return { accepted: true, duplicate: false };
  }

  /**
   * Installs a revision kept in the local history again (roll back or
   * forward without the network): its objects are still on the device and
   * are checked again as they are written.
   */
  async installFromHistory(name: string, rolloutId: string): Promise<CommandReply> {
    if (this.#running) return busy(this.#running.rolloutId);
    const revision = await this.history.revision(name);
    // Only a revision that was installed once (verified whole): a failed attempt never was.
    const entry = (await this.history.entries()).findLast(
      (e) => e.revision === name && e.outcome !== 'failed',
    );
    if (!revision || !entry)
      return rejected('COMMAND_REJECTED', `revision ${name} was never installed on this device`);
    const plan = { rolloutId, revision, releaseCounter: entry.releaseCounter, target: entry.target };
    this.#step({ step: 'accepted', rolloutId, revision: name, source: 'history' });
    this.#run(rolloutId, () => this.#install(plan));
    return { accepted: true, duplicate: false };
  }

  /**
   * The object `sha256` as a revision the device holds, or the one the
   * Director assigns it now, names it: what a local hand-over must be.
   * Undefined when no such revision names it. The assigned revision is
   * verified in full (as for an update) and kept; never while an update runs.
   */
  async expectedObject(sha256: string): Promise<RevisionArtifact | undefined> {
    const named = (revision: StateRevision | undefined) =>
      revision && revisionObjects(revision).find((object) => object.sha256 === sha256);
    const pending = await this.history.pending();
    const names = new Set([
      ...(await this.history.entries()).map((entry) => entry.revision),
      ...(pending ? [pending.command.revision] : []),
    ]);
    for (const name of names) {
      const found = named(await this.history.revision(name));
      if (found) return found;
    }
    if (this.#running) return undefined;
    const control = await this.boot.read();
    const primary = this.#primary;
    const verified = await this.#options.uptane.verify({
      [primary.serial]: { releaseCounter: control.active?.releaseCounter ?? 0 },
    });
    const image = verified.find((v) => v.ecuSerial === primary.serial);
    if (!image || revisionNameOf(image.path) === undefined) return undefined;
    const assigned = await this.#options.uptane.fetchRevision(image);
    await this.history.keep(assigned);
    return named(assigned);
  }

  /** Commits a trial now, without waiting for the health check. */
  async commitNow(): Promise<BootControl> {
    this.#assertIdle();
    const control = await this.boot.read();
    if (!control.trial || !control.active)
      throw new UprollError('COMMAND_REJECTED', 'no revision is on trial');
    const bootloader = this.#options.bootloader;
    if (bootloader && (await bootloader.bootedSlot()) !== control.active.deployment)
      throw new UprollError(
        'COMMAND_REJECTED',
        `slot ${control.active.deployment} is on trial but has not booted yet`,
      );
    await this.#commit(control.active);
    return this.boot.read();
  }

  /**
   * Goes back to the last committed revision on command (not while an update
   * runs). With `onlyFromRollout`, only if that rollout installed what runs
   * now (a rollout rolling back its devices never moves one it did not
   * touch); otherwise nothing changes. The rollback is recorded and reported.
   */
  async rollbackNow(onlyFromRollout?: string): Promise<BootControl> {
    this.#assertIdle();
    const control = await this.boot.read();
    if (onlyFromRollout !== undefined && control.active?.rolloutId !== onlyFromRollout) return control;
    const previous = control.previous;
    const committed = (await this.history.entries()).some(
      (entry) => entry.rolloutId === previous?.rolloutId && entry.outcome === 'committed',
    );
    if (!previous || !committed || !control.active)
      throw new UprollError('COMMAND_REJECTED', 'there is no previous committed revision to go back to');
    const left = control.active;
    const back = await this.boot.rollback();
    const reboot = await this.#enter(back);
    await this.#startAppsOf(back);
    await this.#settle(left, 'rolled_back', {
      deployment: back.active?.deployment,
      error: { code: 'ROLLED_BACK_BY_COMMAND', message: `back to revision ${previous.revision} on command` },
    });
    await reboot();
    return back;
  }

  /**
   * At start: a damaged boot control is restored first; a trial that was
   * interrupted counts one boot attempt (past the limit the device rolls
   * back by itself, below it the health check decides again); an update that
   * was in flight before the switch is resumed. The outcome is reported.
   */
  async recover(): Promise<'idle' | 'committed' | 'rolled_back' | 'resumed' | 'failed' | 'rebooting'> {
    await secureDataDir(this.#options.dataDir);
    const control = await this.boot.read((problem) => this.#log(`boot control was damaged: ${problem}`));
    const bootloader = this.#options.bootloader;
    if (bootloader) {
      const settled = await this.#recoverBoot(control, bootloader);
      if (settled) return settled;
    } else if (control.active) await this.installer.activate(control.active.deployment);
    await this.#settleUnrecorded(control);
    // Not on trial: the committed revision's apps run (an agent that died mid-switch left a mixed set).
    if (!control.trial) await this.#startAppsOf(await this.boot.read());
    const pending = await this.history.pending();
    const trial = await this.boot.countBootAttemptIfOnTrial();
    if (trial?.active) {
      if (trial.bootAttempts > MAX_BOOT_ATTEMPTS) {
        await this.#rollBack(trial.active, {
          code: 'BOOT_ATTEMPTS_EXCEEDED',
          message: `revision ${trial.active.revision} did not survive ${MAX_BOOT_ATTEMPTS} starts on trial`,
        });
        return 'rolled_back';
      }
      const active = trial.active;
      const revision = await this.history.revision(active.revision);
      let verdict: 'committed' | 'rolled_back' = 'committed';
      this.#run(active.rolloutId, async () => {
        verdict = await this.#decide(active, revision);
      });
      await this.idle();
      return verdict;
    }
    if (!pending) return 'idle';
    if (pending.starts + 1 > MAX_BOOT_ATTEMPTS) {
      await this.history.setPending(undefined);
      await this.#fail(pending.command.rolloutId, pending.command.revision, {
        code: 'INSTALL_FAILED',
        message: `the update was interrupted ${pending.starts + 1} times before its switch; given up`,
      });
      return 'failed';
    }
    await this.history.setPending({ ...pending, starts: pending.starts + 1 });
    this.#run(pending.command.rolloutId, () => this.#update(pending.command));
    return 'resumed';
  }

  /**
   * At start, with a bootloader: a damaged environment is recreated
   * first, then the slot that booted decides, as the bootloader tells it
   * ({@link bootVerdict}). Undefined: go on as usual (a
   * trial that booted goes to its health check).
   */
  async #recoverBoot(
    control: BootControl,
    bootloader: Bootloader,
  ): Promise<'rolled_back' | 'rebooting' | undefined> {
    const active = control.active;
    const booted = await bootloader.bootedSlot();
    // Before anything reads it: a torn write must not keep the device from starting.
    const repaired = await bootloader.env.repair(booted);
    if (repaired) {
      this.#bootEnvRepaired = { at: this.#now().toISOString(), message: repaired.slice(0, 1024) };
      this.#log(`boot environment repaired: ${repaired}`);
    }
    const verdict = bootVerdict({
      recorded: active ? slotOf(active.deployment) : undefined,
      trial: control.trial,
      booted,
      trialNotStarted: (await bootloader.env.read()).trialNotStarted,
    });
    switch (verdict.action) {
      case 'reboot-into-trial':
        this.#log(`slot ${active?.deployment} is armed for its trial boot: rebooting into it`);
        await bootloader.reboot();
        return 'rebooting';
      case 'trial-failed':
        await this.#rollBack(active!, {
          code: 'BOOT_FAILED',
          message: `slot ${active!.deployment} (revision ${active!.revision}) never booted to a commit: the bootloader fell back to slot ${booted}`,
        });
        return 'rolled_back';
      case 'reboot-into-committed':
        this.#log(`slot ${verdict.slot} is the committed one but did not boot: rebooting into it`);
        await bootloader.env.commit(verdict.slot);
        await bootloader.reboot();
        return 'rebooting';
      case 'mark-good':
        await bootloader.env.commit(verdict.slot);
        return undefined;
      case 'check-trial':
      case 'none':
        return undefined;
    }
  }

  /**
   * With a bootloader: makes the boot environment's default the slot `control`
   * names (the booted one when it names none); the returned function reboots
   * when that is not the slot running now (call it once the outcome is
   * recorded). Without one: the installer activates the deployment.
   */
  async #enter(control: BootControl): Promise<() => Promise<void>> {
    const bootloader = this.#options.bootloader;
    if (!bootloader) {
      if (control.active) await this.installer.activate(control.active.deployment);
      return async () => {};
    }
    const booted = await bootloader.bootedSlot();
    const slot = control.active ? slotOf(control.active.deployment) : booted;
    await bootloader.env.commit(slot);
    return slot === booted ? async () => {} : () => bootloader.reboot();
  }

  /**
   * An outcome the boot control shows but the history does not: the agent
   * stopped between the switch back (or the commit) and recording it.
   */
  async #settleUnrecorded(control: BootControl): Promise<void> {
    if (control.trial) return;
    const recorded = new Set((await this.history.entries()).map((entry) => entry.rolloutId));
    if (control.active && !recorded.has(control.active.rolloutId))
      await this.#settle(control.active, 'committed', { deployment: control.active.deployment });
    else if (control.previous && !recorded.has(control.previous.rolloutId))
      await this.#settle(control.previous, 'rolled_back', {
        deployment: control.active?.deployment,
        error: { code: 'INSTALL_FAILED', message: 'rolled back; the agent stopped before it recorded why' },
      });
  }

  #run(rolloutId: string, work: () => Promise<unknown>): void {
    const done = work()
      .then(() => {})
      .catch((err: unknown) => this.#log(`update of rollout ${rolloutId} stopped: ${(err as Error).message}`))
      .finally(() => {
        if (this.#running?.rolloutId === rolloutId) this.#running = undefined;
      });
    this.#running = { rolloutId };
    this.#last = done;
  }

  /** Full verification, then the install of what the Director assigns, if it is the commanded revision. */
  async #update(command: UpdateCommand): Promise<void> {
    const control = await this.boot.read();
    const primary = this.#primary;
    let plan: InstallPlan;
    let attempted: Attempt | undefined;
    try {
      const verified = await this.#options.uptane.verify({
        [primary.serial]: { releaseCounter: control.active?.releaseCounter ?? 0 },
      });
      const image = verified.find((v) => v.ecuSerial === primary.serial);
      if (!image || revisionNameOf(image.path) !== command.revision) {
        throw new UprollError(
          'NOT_ASSIGNED',
          `the Director assigns ${image ? image.path : 'nothing'} to ECU ${primary.serial}, not revision ${command.revision}`,
        );
      }
      attempted = {
        releaseCounter: image.releaseCounter,
        target: { path: image.path, length: image.length, hashes: image.hashes },
      };
      const revision = await this.#options.uptane.fetchRevision(image);
      if (revision.name !== command.revision)
        throw new UprollError('BAD_METADATA', `${image.path} describes revision ${revision.name}`);
      await this.history.keep(revision);
      plan = {
        rolloutId: command.rolloutId,
        revision,
        ...attempted,
      };
    } catch (err) {
      await this.history.setPending(undefined);
      await this.#fail(command.rolloutId, command.revision, describe(err, 'INSTALL_FAILED'), attempted);
      return;
    }
    await this.#install(plan);
  }

  /** Fetches the missing objects, writes the revision beside the running one, switches, decides. */
  async #install(plan: InstallPlan): Promise<void> {
    const { rolloutId, revision } = plan;
    const step = (phase: DevicePhase, extra: Partial<Telemetry> = {}) =>
      this.#report({ rolloutId, revision: revision.name }, phase, extra);
    let deployment: string;
    let osUnchanged: boolean;
    try {
      const control = await this.boot.read();
      const running = control.active && (await this.history.revision(control.active.revision));
      // Only the apps change: the OS deployment that runs stays; its artifacts are neither
      // fetched (a pruned rootfs image would come again for nothing) nor restaged nor rebooted.
      osUnchanged = Boolean(control.active && running && sameOsPart(running, revision));
      const needed: StateRevision = osUnchanged ? { ...revision, artifacts: [] } : revision;
      const fetched =
        (await this.#fetchMissing(rolloutId, needed)) +
        (osUnchanged ? 0 : ((await this.installer.fetch?.(revision)) ?? 0));
      await step('downloaded', { bytes: fetched });
      await this.#boundary('downloaded');
      for (const artifact of revisionObjects(needed)) await this.objects.check(artifact);
      await step('verified');
      await this.#boundary('verified');
      // Images are unpacked (each blob checked again) before anything that runs changes.
      await this.apps.prepare(revision.apps ?? []);
      this.#step({ step: 'writing', rolloutId, revision: revision.name });
      if (osUnchanged && control.active) {
        deployment = control.active.deployment;
      } else {
        // Never write the slot that runs, even when the record and the bootloader disagree.
        const booted = await this.#options.bootloader?.bootedSlot();
        let written = 0;
        deployment = await this.installer.stage(
          revision,
          this.objects,
          [...(control.active ? [control.active.deployment] : []), ...(booted ? [booted] : [])],
          async () => {
            if (++written === 1) await this.#boundary('writing');
          },
        );
      }
    } catch (err) {
      await this.history.setPending(undefined);
      await this.#fail(rolloutId, revision.name, describe(err, 'INSTALL_FAILED'), plan);
      return;
    }
    const next: Deployment = {
      revision: revision.name,
      rolloutId,
      deployment,
      releaseCounter: plan.releaseCounter,
      target: plan.target,
    };
    const bootloader = this.#options.bootloader;
    if (bootloader && !osUnchanged) {
      // Armed before it is recorded: a trial recorded but never armed would look like a failed boot.
      await bootloader.env.armTrial(slotOf(deployment));
      await this.boot.switchTo(next);
      await this.history.setPending(undefined);
      await step('installed', { deployment });
      await this.#boundary('switched');
      await bootloader.reboot(); // the next start decides, in the slot the bootloader booted
      return;
    }
    await this.boot.switchTo(next);
    await this.history.setPending(undefined);
    await this.installer.activate(deployment);
    await step('installed', { deployment });
    await this.#boundary('switched');
    await this.#decide(next, revision);
  }

  /** Downloads the objects of `revision` the device does not hold; tracks progress; returns bytes fetched. */
  async #fetchMissing(rolloutId: string, revision: StateRevision): Promise<number> {
    const missing = missingObjects(revision, await this.objects.present());
    const total = missing.reduce((sum, artifact) => sum + artifact.length, 0);
    let fetched = 0;
    let done = 0;
    const update = { rolloutId, revision: revision.name };
    this.#step({ step: 'downloading', ...update, objects: missing.length, received: 0, total });
    const newTenth = progressTenths();
    try {
      for (const artifact of missing) {
        fetched += await this.objects.fetch(artifact, this.#options.uptane.targetsUrl, {
          ...this.#options.download,
          onProgress: (received) => {
            const sofar = done + received;
            this.#progress = { rolloutId, received: sofar, total, percent: (100 * sofar) / total };
            if (newTenth(this.#progress.percent))
              this.#step({ step: 'downloading', ...update, received: sofar, total });
          },
        });
        done += artifact.length;
      }
      return fetched;
    } finally {
      this.#progress = undefined;
    }
  }

  /** The health check decides a trial: commit, or switch back. */
  async #decide(
    active: Deployment,
    revision: StateRevision | undefined,
  ): Promise<'committed' | 'rolled_back'> {
    const check = revision?.health ?? this.#options.healthCheck;
    try {
      const apps = revision?.apps ?? [];
      await this.apps.awaitHealthy(apps, await this.apps.switchTo(apps));
      if (check) {
        const dir = this.installer.pathOf(active.deployment);
        await runHealthCheck(check, {
          cwd: dir,
          env: {
            UPROLL_DEVICE_ID: this.#options.device.deviceId,
            UPROLL_DEPLOYMENT: active.deployment,
            UPROLL_DEPLOYMENT_DIR: dir,
            UPROLL_REVISION: active.revision,
          },
        });
      }
    } catch (err) {
      const error = capped(describe(err, 'HEALTH_CHECK_FAILED'));
      this.#step({ step: 'unhealthy', rolloutId: active.rolloutId, revision: active.revision, error });
      await this.#rollBack(active, error);
      return 'rolled_back';
    }
    await this.#report(active, 'healthy', { deployment: active.deployment });
    await this.#boundary('healthy');
    await this.#commit(active);
    return 'committed';
  }

  async #commit(active: Deployment): Promise<void> {
    // The boot environment first: once it is committed, the bootloader no longer falls back.
    await this.#options.bootloader?.env.commit(slotOf(active.deployment));
    const control = await this.boot.commit();
    await this.installer.prune([
      active.deployment,
      ...(control.previous ? [control.previous.deployment] : []),
    ]);
    await this.#settle(active, 'committed', { deployment: active.deployment });
  }

  async #rollBack(failed: Deployment, error: { code: string; message: string }): Promise<void> {
    const back = await this.boot.rollback();
    const reboot = await this.#enter(back);
    await this.#startAppsOf(back);
    await this.#settle(failed, 'rolled_back', { deployment: back.active?.deployment, error });
    await reboot();
  }

  /**
   * Runs the apps of the revision `control` makes active (none without
   * one), its volumes untouched. A failure is logged: the rollback itself
   * stands, and the next start tries again.
   */
  async #startAppsOf(control: BootControl): Promise<void> {
    try {
      const revision = control.active ? await this.history.revision(control.active.revision) : undefined;
      await this.apps.switchTo(revision?.apps ?? []);
    } catch (err) {
      this.#log(
        `starting the apps of revision ${control.active?.revision ?? 'none'} failed: ${(err as Error).message}`,
      );
    }
  }

  /** Records the outcome in the history, frees objects no kept revision needs, then reports it. */
  async #settle(
    deployment: Deployment,
    outcome: 'committed' | 'rolled_back',
    extra: Pick<Telemetry, 'deployment' | 'error'>,
  ): Promise<void> {
    await this.history.record({ ...deployment, outcome, at: this.#now().toISOString(), ...extra });
    await this.#pruneObjects();
    await this.#report(deployment, outcome, extra);
  }

  /**
   * Records and reports a failed attempt. The entry names the attempted
   * revision's target (as far as the device got to know it), never the one
   * that runs: the deployment is what still runs.
   */
  async #fail(
    rolloutId: string,
    revision: string,
    error: { code: string; message: string },
    attempted?: Attempt,
  ): Promise<void> {
    const control = await this.boot.read();
    const entry: HistoryEntry = {
      revision,
      rolloutId,
      deployment: control.active?.deployment ?? 'none',
      releaseCounter: attempted?.releaseCounter ?? 0,
      target: attempted?.target ?? { path: revisionTargetPath(revision), length: 0, hashes: {} },
      outcome: 'failed',
      at: this.#now().toISOString(),
      error,
    };
    await this.history.record(entry);
    await this.#report({ rolloutId, revision }, 'failed', { error, deployment: control.active?.deployment });
  }

  /** Keeps the objects of every revision in the history; the rest go. */
  async #pruneObjects(): Promise<void> {
    // A rootfs image lives on in its slot once written: keeping a copy per revision in history
    // would take a whole image each (reinstalling one from history downloads it again).
    const dropImages = this.installer.switchesByReboot === true;
    const keep = new Set<string>();
    const apps: App[] = [];
    for (const entry of await this.history.entries()) {
      const revision = await this.history.revision(entry.revision);
      for (const artifact of revision ? revisionObjects(revision) : [])
        if (!(dropImages && artifact.image)) keep.add(artifact.sha256);
      apps.push(...(revision?.apps ?? []));
    }
    await this.objects.prune(keep);
    await this.apps.prune(apps);
  }

  /** Journals one step (and, at the end of an update, a signed manifest for the Director). */
  async #report(
    update: { rolloutId: string; revision: string },
    phase: DevicePhase,
    extra: Partial<Telemetry>,
  ): Promise<void> {
    const telemetry: Telemetry = {
      deviceId: this.#options.device.deviceId,
      rolloutId: update.rolloutId,
      revision: update.revision,
      phase,
      at: this.#now().toISOString(),
      ...extra,
    };
    await this.journal.append('telemetry', () => telemetry);
    this.#step({
      step: phase === 'installed' ? 'switched' : phase,
      rolloutId: update.rolloutId,
      revision: update.revision,
      deployment: extra.deployment,
      ...(extra.bytes !== undefined ? { bytes: extra.bytes } : {}),
      error: extra.error,
    });
    if (TERMINAL_PHASES.has(phase)) {
      // Whoever hears the outcome may act at once (send the next update, roll back by command).
      if (this.#running?.rolloutId === update.rolloutId) this.#running = undefined;
      const code = extra.error?.code as UprollErrorCode | undefined;
      await this.journal.append('manifest', (counter) =>
        this.#manifest(counter, code && TRUST_ATTACK_CODES.has(code) ? code : ''),
      );
    }
  }

  /** The device's signed manifest: what its primary ECU runs, attacks it saw, its trusted roots. */
  async #manifest(counter: number, attacksDetected: string) {
    const control = await this.boot.read();
    const primary = this.#primary;
    const time = this.#now().toISOString();
    const target = control.active?.target ?? { path: '', length: 0, hashes: {} };
    const report = await signEcuVersionReport(
      {
        ecuSerial: primary.serial,
        installedImage: { filepath: target.path, fileinfo: { length: target.length, hashes: target.hashes } },
        attacksDetected,
        counter,
        time,
      },
      this.#options.deviceKey,
    );
    const trustedRoots = await this.#options.uptane.trustedRoots();
    return signDeviceManifest(
      {
        deviceId: this.#options.device.deviceId,
        primaryEcuSerial: primary.serial,
        ecuVersionReports: { [primary.serial]: report },
        counter,
        time,
        ...(trustedRoots ? { trustedRoots } : {}),
      },
      this.#options.deviceKey,
    );
  }

  async #boundary(boundary: PhaseBoundary): Promise<void> {
    await this.#options.onBoundary?.(boundary);
  }

  #assertIdle(): void {
    if (this.#running)
      throw new UprollError(
        'COMMAND_REJECTED',
        `update of rollout ${this.#running.rolloutId} is still running`,
      );
  }

  #now(): Date {
    return this.#options.clock();
  }

  #log(line: string): void {
    this.#options.log?.(line);
  }

  #step(step: UpdateStep): void {
    try {
      this.#options.onStep?.(step);
    } catch (err) {
      this.#log(`telling step ${step.step} failed: ${(err as Error).message}`); // a log line never stops an update
    }
  }
}

function updateOf({ rolloutId, revision }: UpdateCommand) {
  return { rolloutId, revision };
}

function slotOf(deployment: string): Slot {
  if (!isSlot(deployment))
    throw new UprollError('BOOT_CONTROL_FAILED', `deployment ${deployment} is not an A/B slot`);
  return deployment;
}

function busy(rolloutId: string): CommandReply {
  return rejected('BUSY', `update of rollout ${rolloutId} is still running`);
}

function rejected(code: string, message: string): CommandReply {
  return { accepted: false, error: { code, message } };
}

/** Error messages travel in telemetry: an app's output in one is kept short. */
const MAX_ERROR_MESSAGE = 2000;
function capped(error: { code: string; message: string }) {
  return error.message.length > MAX_ERROR_MESSAGE
    ? { ...error, message: `${error.message.slice(0, MAX_ERROR_MESSAGE)}…` }
    : error;
}

function describe(err: unknown, fallback: string): { code: string; message: string } {
  if (isUprollError(err)) return { code: err.code, message: err.message };
  return { code: fallback, message: err instanceof Error ? err.message : String(err) };
}
