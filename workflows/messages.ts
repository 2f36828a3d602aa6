import { defineQuery, defineSignal } from '@temporalio/workflow';
import {
  DEVICE_PROGRESS_SIGNAL,
  DEVICE_UPDATE_STATUS_QUERY,
  DEVICE_VERSION_REPORT_SIGNAL,
} from '../core/identifiers.ts';
import type { PhaseRecord, Telemetry, VersionReport } from '../core/index.ts';

/** A device's telemetry reports, oldest first, validated by the telemetry bridge. */
export const deviceProgressSignal = defineSignal<[Telemetry[]]>(DEVICE_PROGRESS_SIGNAL);

/** The phases one device update has reached so far. */
export const deviceUpdateStatusQuery = defineQuery<readonly PhaseRecord[]>(DEVICE_UPDATE_STATUS_QUERY);

/** The Director accepted the device's signed version report showing this revision installed. */
export const deviceVersionReportSignal = defineSignal<[VersionReport]>(DEVICE_VERSION_REPORT_SIGNAL);
