import {
  missingObjects,
  revisionNameOf,
  revisionObjects,
  sameOsPart,
  UprollError,
  type DevicePhase,
  type DownloadProgress,
  type StateRevision,
  type Telemetry,
  type UpdateCommand,
} from '../core/index.ts';
import { primaryEcuOf } from '../core/uptane/index.ts';
import type { Deployment } from './boot-control.ts';
import type { UpdateOutcomes } from './update-outcome.ts';
import { describeError, slotOf, type Attempt, type InstallPlan, type UpdateParts } from './update-parts.ts';
import { progressTenths } from './update-steps.ts';

/**
 * The install pipeline of one update: full Uptane verification of what the
 * Director assigns, then download of only the objects the device does not
 * hold, a check of each, the write beside the running deployment, the
 * atomic switch to it on trial, and the health check's decision. A failure
 * before the switch is recorded as a failed attempt; the running deployment
 * is never touched.
 */
export class UpdatePipeline {
  readonly #parts: UpdateParts;
  readonly #outcomes: UpdateOutcomes;
  #progress: DownloadProgress | undefined;

  constructor(parts: UpdateParts, outcomes: UpdateOutcomes) {
    this.#parts = parts;
    this.#outcomes = outcomes;
  }

  /** How far the download of the running update is, while it downloads. */
  get progress(): DownloadProgress | undefined {
    return this.#progress;
  }

  /** Full verification, then the install of what the Director assigns, if it is the commanded revision. */
  async update(command: UpdateCommand): Promise<void> {
    const { boot, uptane, history } = this.#parts;
    const control = await boot.read();
    const primary = primaryEcuOf(this.#parts.device);
    let plan: InstallPlan;
    let attempted: Attempt | undefined;
    try {
      const verified = await uptane.verify({
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
      const revision = await uptane.fetchRevision(image);
      if (revision.name !== command.revision)
        throw new UprollError('BAD_METADATA', `${image.path} describes revision ${revision.name}`);
      await history.keep(revision);
      plan = { rolloutId: command.rolloutId, revision, ...attempted };
    } catch (err) {
      await history.setPending(undefined);
      await this.#outcomes.fail(
        command.rolloutId,
        command.revision,
        describeError(err, 'INSTALL_FAILED'),
        attempted,
      );
      return;
    }
    await this.install(plan);
  }

  /** Fetches the missing objects, writes the revision beside the running one, switches, decides. */
  async install(plan: InstallPlan): Promise<void> {
    const { boot, history, objects, installer, apps, bootloader } = this.#parts;
    const { rolloutId, revision } = plan;
    const step = (phase: DevicePhase, extra: Partial<Telemetry> = {}) =>
      this.#parts.reporter.report({ rolloutId, revision: revision.name }, phase, extra);
    const boundary = this.#parts.boundary;
    let deployment: string;
    let osUnchanged: boolean;
    try {
      const control = await boot.read();
      const running = control.active && (await history.revision(control.active.revision));
      // Only the apps change: the OS deployment that runs stays; its artifacts are neither
      // fetched (a pruned rootfs image would come again for nothing) nor restaged nor rebooted.
      osUnchanged = Boolean(control.active && running && sameOsPart(running, revision));
      const needed: StateRevision = osUnchanged ? { ...revision, artifacts: [] } : revision;
      const fetched =
        (await this.#fetchMissing(rolloutId, needed)) +
        (osUnchanged ? 0 : ((await installer.fetch?.(revision)) ?? 0));
      await step('downloaded', { bytes: fetched });
      await boundary('downloaded');
      for (const artifact of revisionObjects(needed)) await objects.check(artifact);
      await step('verified');
      await boundary('verified');
      // Images are unpacked (each blob checked again) before anything that runs changes.
      await apps.prepare(revision.apps ?? []);
      this.#parts.step({ step: 'writing', rolloutId, revision: revision.name });
      if (osUnchanged && control.active) {
        deployment = control.active.deployment;
      } else {
        // Never write the slot that runs, even when the record and the bootloader disagree.
        const booted = await bootloader?.bootedSlot();
        let written = 0;
        deployment = await installer.stage(
          revision,
          objects,
          [...(control.active ? [control.active.deployment] : []), ...(booted ? [booted] : [])],
          async () => {
            if (++written === 1) await boundary('writing');
          },
        );
      }
    } catch (err) {
      await history.setPending(undefined);
      await this.#outcomes.fail(rolloutId, revision.name, describeError(err, 'INSTALL_FAILED'), plan);
      return;
    }
    const next: Deployment = {
      revision: revision.name,
      rolloutId,
      deployment,
      releaseCounter: plan.releaseCounter,
      target: plan.target,
    };
    if (bootloader && !osUnchanged) {
      // Armed before it is recorded: a trial recorded but never armed would look like a failed boot.
      await bootloader.env.armTrial(slotOf(deployment));
      await boot.switchTo(next);
      await history.setPending(undefined);
      await step('installed', { deployment });
      await boundary('switched');
      await bootloader.reboot(); // the next start decides, in the slot the bootloader booted
      return;
    }
    await boot.switchTo(next);
    await history.setPending(undefined);
    await installer.activate(deployment);
    await step('installed', { deployment });
    await boundary('switched');
    await this.#outcomes.decide(next, revision);
  }

  /** Downloads the objects of `revision` the device does not hold; tracks progress; returns bytes fetched. */
  async #fetchMissing(rolloutId: string, revision: StateRevision): Promise<number> {
    const { objects } = this.#parts;
    const missing = missingObjects(revision, await objects.present());
    const total = missing.reduce((sum, artifact) => sum + artifact.length, 0);
    let fetched = 0;
    let done = 0;
    const update = { rolloutId, revision: revision.name };
    this.#parts.step({ step: 'downloading', ...update, objects: missing.length, received: 0, total });
    const newTenth = progressTenths();
    try {
      for (const artifact of missing) {
        fetched += await objects.fetch(artifact, this.#parts.uptane.targetsUrl, {
          ...this.#parts.download,
          onProgress: (received) => {
            const sofar = done + received;
            this.#progress = { rolloutId, received: sofar, total, percent: (100 * sofar) / total };
            if (newTenth(this.#progress.percent))
              this.#parts.step({ step: 'downloading', ...update, received: sofar, total });
          },
        });
        done += artifact.length;
      }
      return fetched;
    } finally {
      this.#progress = undefined;
    }
  }
}
