import {
  isUprollError,
  UprollError,
  type HealthCheck,
  type StateRevision,
  type ErrorInfo,
} from '../core/index.ts';
import type { DeviceIdentity } from '../core/uptane/index.ts';
import type { DownloadOptions } from '../adapters/tuf/index.ts';
import type { AppSupervisor } from './apps/index.ts';
import type { BootControlFile, Deployment } from './boot-control.ts';
import { isSlot, type Bootloader, type Slot } from './boot/index.ts';
import type { Installer } from './installers/installer.ts';
import type { ObjectStore } from './object-store.ts';
import type { RevisionHistory } from './revision-history.ts';
import type { UpdateReporter } from './update-reporter.ts';
import type { UpdateStep } from './update-steps.ts';
import type { UptaneClient } from './uptane-client.ts';

/** The points between steps of an update where a device may lose power (crash tests name them). */
export type PhaseBoundary = 'downloaded' | 'verified' | 'writing' | 'switched' | 'healthy';

/** The target of a revision the device set out to install, once the Director named it. */
export type Attempt = Pick<Deployment, 'releaseCounter' | 'target'>;

/** What to install: a verified revision, and the target that vouched for it. */
export interface InstallPlan extends Attempt {
  rolloutId: string;
  revision: StateRevision;
}

/**
 * The device's state on disk and its tools, as the update manager made them
 * once: what the install pipeline, the outcomes and the recovery work on.
 */
export interface UpdateParts {
  device: DeviceIdentity;
  installer: Installer;
  /** Full Uptane verification against the Director and the Image repository. */
  uptane: UptaneClient;
  bootloader: Bootloader | undefined;
  /** Used when a revision names no health check of its own. */
  healthCheck: HealthCheck | undefined;
  download: Pick<DownloadOptions, 'attempts' | 'minBytesPerSecond' | 'windowMs'> | undefined;
  boot: BootControlFile;
  objects: ObjectStore;
  history: RevisionHistory;
  apps: AppSupervisor;
  reporter: UpdateReporter;
  now: () => Date;
  log: (line: string) => void;
  /** Tells a step (accepted, downloading, …); a failing listener never stops an update. */
  step: (step: UpdateStep) => void;
  /** The crash tests' hook between phases. */
  boundary: (boundary: PhaseBoundary) => Promise<void>;
}

/** The device's primary ECU: the one its revisions are for. */
/** A deployment of an installer that switches by rebooting: an A/B slot. */
export function slotOf(deployment: string): Slot {
  if (!isSlot(deployment))
    throw new UprollError('BOOT_CONTROL_FAILED', `deployment ${deployment} is not an A/B slot`);
  return deployment;
}

/** An error as reports carry it: its code (`fallback` for one that is not ours) and message. */
export function describeError(err: unknown, fallback: string): ErrorInfo {
  if (isUprollError(err)) return { code: err.code, message: err.message };
  return { code: fallback, message: err instanceof Error ? err.message : String(err) };
}
