import {
  revisionNameOf,
  revisionObjects,
  UprollError,
  type CommandReply,
  type DownloadProgress,
  type HealthCheck,
  type RevisionArtifact,
  type StateRevision,
  type UpdateCommand,
  type Clock,
  type ErrorInfo,
} from '../core/index.ts';
import type { Signer } from '../core/tuf/index.ts';
import { primaryEcuOf, type DeviceIdentity } from '../core/uptane/index.ts';
import type { DownloadOptions } from '../adapters/tuf/index.ts';
import { AppSupervisor } from './apps/index.ts';
import { CommandGate, describeHolder, type Holder, type Reservation } from './command-gate.ts';
import { secureDataDir } from './data-dir.ts';
import { BootControlFile, type BootControl } from './boot-control.ts';
import { bootVerdict, type Bootloader, type Slot } from './boot/index.ts';
import type { Installer } from './installers/installer.ts';
import { ObjectStore } from './object-store.ts';
import { ReportJournal } from './report-journal.ts';
import { RevisionHistory } from './revision-history.ts';
import type { UptaneClient } from './uptane-client.ts';
import { UpdateOutcomes } from './update-outcome.ts';
import { describeError, slotOf, type PhaseBoundary, type UpdateParts } from './update-parts.ts';
import { UpdatePipeline } from './update-pipeline.ts';
import { UpdateReporter } from './update-reporter.ts';
import type { UpdateStep } from './update-steps.ts';

export type { PhaseBoundary } from './update-parts.ts';

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

/** A boot environment the agent found damaged at start and made anew: when, and what it did. */
export interface BootEnvRepair {
  at: string;
  message: string;
}

/**
 * The device's update manager: it takes commands (an update, an install
 * from history, commit, roll back) one at a time, and hands an accepted
 * update to the install pipeline ({@link UpdatePipeline}: full Uptane
 * verification, download of what the device lacks, write beside the running
 * revision, switch on trial, health check). Every step is written to the
 * report journal before it is told. A crash at any point is settled at the
 * next start ({@link UpdateManager.recover}): a trial counts a boot attempt,
 * an update in flight is resumed.
 */
export class UpdateManager {
  readonly boot: BootControlFile;
  readonly objects: ObjectStore;
  readonly journal: ReportJournal;
  readonly history: RevisionHistory;
  readonly apps: AppSupervisor;
  readonly #options: UpdateManagerOptions;
  /** One command at a time: each reserves the manager before its first await. */
  readonly #gate = new CommandGate();
  readonly #reporter: UpdateReporter;
  readonly #outcomes: UpdateOutcomes;
  readonly #pipeline: UpdatePipeline;
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
    const now = () => options.clock();
    const step = (step: UpdateStep) => this.#step(step);
    this.#reporter = new UpdateReporter({
      device: options.device,
      deviceKey: options.deviceKey,
      uptane: options.uptane,
      journal: this.journal,
      boot: this.boot,
      now,
      step,
      onOutcome: (rolloutId) => this.#gate.endUpdate(rolloutId),
    });
    const parts: UpdateParts = {
      device: options.device,
      installer: options.installer,
      uptane: options.uptane,
      bootloader: options.bootloader,
      healthCheck: options.healthCheck,
      download: options.download,
      boot: this.boot,
      objects: this.objects,
      history: this.history,
      apps: this.apps,
      reporter: this.#reporter,
      now,
      log: (line) => this.#log(line),
      step,
      boundary: async (boundary) => {
        await options.onBoundary?.(boundary);
      },
    };
    this.#outcomes = new UpdateOutcomes(parts);
    this.#pipeline = new UpdatePipeline(parts, this.#outcomes);
  }

  get installer(): Installer {
    return this.#options.installer;
  }

  /** The rollout of the update running now, if any. */
  get running(): string | undefined {
    const holder = this.#gate.holder;
    return holder?.kind === 'updating' ? holder.rolloutId : undefined;
  }

  /** How far the download of the running update is, while it downloads. */
  get progress(): DownloadProgress | undefined {
    return this.#pipeline.progress;
  }

  /**
   * The bootloader's side, for the status: its backend, the slot that
   * booted, and what the environment boots next. Undefined without a
   * bootloader; an environment that cannot be read is shown as an error.
   */
  async bootloaderStatus(): Promise<
    | { backend: string; booted: Slot; next: Slot | null; trialNotStarted: Slot | null }
    | { backend: string; error: ErrorInfo }
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
      return { backend: bootloader.env.kind, error: describeError(err, 'BOOT_CONTROL_FAILED') };
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
    const holder = this.#gate.holder;
    if (holder && 'rolloutId' in holder && holder.rolloutId === command.rolloutId)
      return { accepted: true, duplicate: true };
    // Undefined while another command holds the manager: a rollout that ran is still answered as a duplicate.
    const reservation = this.#gate.tryReserve({ kind: 'accepting', rolloutId: command.rolloutId });
    try {
      const done = (await this.history.entries()).find((entry) => entry.rolloutId === command.rolloutId);
      if (done) {
        this.#step({ step: 'accepted', ...updateOf(command), source: 'command', duplicate: true });
        await this.#reporter.report(done, done.outcome, { deployment: done.deployment, error: done.error });
        return { accepted: true, duplicate: true };
      }
      if (!reservation) return busy(holder!);
      await this.history.setPending({ command, starts: 0 });
      this.#step({ step: 'accepted', ...updateOf(command), source: 'command' });
      this.#run(reservation, command.rolloutId, () => this.#pipeline.update(command));
      return { accepted: true, duplicate: false };
    } finally {
      reservation?.release();
    }
  }

  /**
   * Installs a revision kept in the local history again (roll back or
   * forward without the network): its objects are still on the device and
   * are checked again as they are written.
   */
  async installFromHistory(name: string, rolloutId: string): Promise<CommandReply> {
    const holder = this.#gate.holder;
    const reservation = this.#gate.tryReserve({ kind: 'accepting', rolloutId });
    if (!reservation) return busy(holder!);
    try {
      const revision = await this.history.revision(name);
      // Only a revision that was installed once (verified whole): a failed attempt never was.
      const entry = (await this.history.entries()).findLast(
        (e) => e.revision === name && e.outcome !== 'failed',
      );
      if (!revision || !entry)
        return rejected('COMMAND_REJECTED', `revision ${name} was never installed on this device`);
      const plan = { rolloutId, revision, releaseCounter: entry.releaseCounter, target: entry.target };
      this.#step({ step: 'accepted', rolloutId, revision: name, source: 'history' });
      this.#run(reservation, rolloutId, () => this.#pipeline.install(plan));
      return { accepted: true, duplicate: false };
    } finally {
      reservation.release();
    }
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
    // Verification writes the trusted metadata: not beside an update or another lookup doing so.
    const reservation = this.#gate.tryReserve({ kind: 'lookup' });
    if (!reservation) return undefined;
    try {
      const control = await this.boot.read();
      const primary = primaryEcuOf(this.#options.device);
      const verified = await this.#options.uptane.verify({
        [primary.serial]: { releaseCounter: control.active?.releaseCounter ?? 0 },
      });
      const image = verified.find((v) => v.ecuSerial === primary.serial);
      if (!image || revisionNameOf(image.path) === undefined) return undefined;
      const assigned = await this.#options.uptane.fetchRevision(image);
      await this.history.keep(assigned);
      return named(assigned);
    } finally {
      reservation.release();
    }
  }

  /** Commits a trial now, without waiting for the health check. */
  async commitNow(): Promise<BootControl> {
    const reservation = this.#reserveOrRefuse({ kind: 'commit' });
    try {
      const control = await this.boot.read();
      if (!control.trial || !control.active)
        throw new UprollError('COMMAND_REJECTED', 'no revision is on trial');
      const bootloader = this.#options.bootloader;
      if (bootloader && (await bootloader.bootedSlot()) !== control.active.deployment)
        throw new UprollError(
          'COMMAND_REJECTED',
          `slot ${control.active.deployment} is on trial but has not booted yet`,
        );
      await this.#outcomes.commit(control.active);
      return await this.boot.read();
    } finally {
      reservation.release();
    }
  }

  /**
   * Goes back to the last committed revision on command (not while an update
   * runs). With `onlyFromRollout`, only if that rollout installed what runs
   * now (a rollout rolling back its devices never moves one it did not
   * touch); otherwise nothing changes. The rollback is recorded and reported.
   */
  async rollbackNow(onlyFromRollout?: string): Promise<BootControl> {
    const reservation = this.#reserveOrRefuse({ kind: 'rollback' });
    try {
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
      const reboot = await this.#outcomes.enter(back);
      await this.#outcomes.startAppsOf(back);
      await this.#outcomes.settle(left, 'rolled_back', {
        deployment: back.active?.deployment,
        error: {
          code: 'ROLLED_BACK_BY_COMMAND',
          message: `back to revision ${previous.revision} on command`,
        },
      });
      await reboot();
      return back;
    } finally {
      reservation.release();
    }
  }

  /**
   * At start: a damaged boot control is restored first; a trial that was
   * interrupted counts one boot attempt (past the limit the device rolls
   * back by itself, below it the health check decides again); an update that
   * was in flight before the switch is resumed. The outcome is reported.
   */
  async recover(): Promise<'idle' | 'committed' | 'rolled_back' | 'resumed' | 'failed' | 'rebooting'> {
    // Commands the control socket takes meanwhile are refused: what a crash left comes first.
    const reservation = this.#reserveOrRefuse({ kind: 'recovery' });
    try {
      return await this.#recover(reservation);
    } finally {
      reservation.release();
    }
  }

  async #recover(
    reservation: Reservation,
  ): Promise<'idle' | 'committed' | 'rolled_back' | 'resumed' | 'failed' | 'rebooting'> {
    await secureDataDir(this.#options.dataDir);
    const control = await this.boot.read((problem) => this.#log(`boot control was damaged: ${problem}`));
    const bootloader = this.#options.bootloader;
    if (bootloader) {
      const settled = await this.#recoverBoot(control, bootloader);
      if (settled) return settled;
    } else if (control.active) await this.installer.activate(control.active.deployment);
    await this.#settleUnrecorded(control);
    // Not on trial: the committed revision's apps run (an agent that died mid-switch left a mixed set).
    if (!control.trial) await this.#outcomes.startAppsOf(await this.boot.read());
    const pending = await this.history.pending();
    const trial = await this.boot.countBootAttemptIfOnTrial();
    if (trial?.active) {
      if (trial.bootAttempts > MAX_BOOT_ATTEMPTS) {
        await this.#outcomes.rollBack(trial.active, {
          code: 'BOOT_ATTEMPTS_EXCEEDED',
          message: `revision ${trial.active.revision} did not survive ${MAX_BOOT_ATTEMPTS} starts on trial`,
        });
        return 'rolled_back';
      }
      const active = trial.active;
      const revision = await this.history.revision(active.revision);
      let verdict: 'committed' | 'rolled_back' = 'committed';
      this.#run(reservation, active.rolloutId, async () => {
        verdict = await this.#outcomes.decide(active, revision);
      });
      await this.idle();
      return verdict;
    }
    if (!pending) return 'idle';
    if (pending.starts + 1 > MAX_BOOT_ATTEMPTS) {
      await this.history.setPending(undefined);
      await this.#outcomes.fail(pending.command.rolloutId, pending.command.revision, {
        code: 'INSTALL_FAILED',
        message: `the update was interrupted ${pending.starts + 1} times before its switch; given up`,
      });
      return 'failed';
    }
    await this.history.setPending({ ...pending, starts: pending.starts + 1 });
    this.#run(reservation, pending.command.rolloutId, () => this.#pipeline.update(pending.command));
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
        await this.#outcomes.rollBack(active!, {
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
   * An outcome the boot control shows but the history does not: the agent
   * stopped between the switch back (or the commit) and recording it.
   */
  async #settleUnrecorded(control: BootControl): Promise<void> {
    if (control.trial) return;
    const recorded = new Set((await this.history.entries()).map((entry) => entry.rolloutId));
    if (control.active && !recorded.has(control.active.rolloutId))
      await this.#outcomes.settle(control.active, 'committed', { deployment: control.active.deployment });
    else if (control.previous && !recorded.has(control.previous.rolloutId))
      await this.#outcomes.settle(control.previous, 'rolled_back', {
        deployment: control.active?.deployment,
        error: { code: 'INSTALL_FAILED', message: 'rolled back; the agent stopped before it recorded why' },
      });
  }

  /** Runs an update in the background; it takes over the command's reservation and frees it at its end. */
  #run(reservation: Reservation, rolloutId: string, work: () => Promise<unknown>): void {
    const update = reservation.passTo({ kind: 'updating', rolloutId });
    this.#last = work()
      .then(() => {})
      .catch((err: unknown) => this.#log(`update of rollout ${rolloutId} stopped: ${(err as Error).message}`))
      .finally(() => update.release());
  }

  /** Reserves the manager for `holder`, or throws COMMAND_REJECTED naming what holds it. */
  #reserveOrRefuse(holder: Holder): Reservation {
    const held = this.#gate.holder;
    const reservation = this.#gate.tryReserve(holder);
    if (!reservation) throw new UprollError('COMMAND_REJECTED', `${describeHolder(held!)} is still running`);
    return reservation;
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

function busy(holder: Holder): CommandReply {
  return rejected('BUSY', `${describeHolder(holder)} is still running`);
}

function rejected(code: string, message: string): CommandReply {
  return { accepted: false, error: { code, message } };
}
