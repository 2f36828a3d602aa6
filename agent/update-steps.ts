import type { LogPriority, LogRecord } from './log-record.ts';
import type { ErrorInfo } from '../core/index.ts';

/**
 * The steps of one update on the device, in order: accepted, downloading
 * (with progress), downloaded, verified, writing, switched (on trial),
 * rebooting (when the OS changed), healthy or unhealthy, then committed,
 * rolled back, or failed (with the error's code).
 */
export type UpdateStepName =
  | 'accepted'
  | 'downloading'
  | 'downloaded'
  | 'verified'
  | 'writing'
  | 'switched'
  | 'rebooting'
  | 'healthy'
  | 'unhealthy'
  | 'committed'
  | 'rolled_back'
  | 'failed';

/** One step of an update, as the update manager tells it to whoever logs or shows it. */
export interface UpdateStep {
  step: UpdateStepName;
  rolloutId: string;
  revision: string;
  deployment?: string | undefined;
  /** downloading: bytes so far of `total`; downloaded: bytes fetched. */
  received?: number;
  total?: number;
  objects?: number;
  bytes?: number;
  /** accepted: `command` or `history`; a command for an update seen before is a duplicate. */
  source?: 'command' | 'history';
  duplicate?: boolean;
  error?: ErrorInfo | undefined;
}

const DESCRIBED: Record<UpdateStepName, [LogPriority, string]> = {
  accepted: ['info', 'update accepted'],
  downloading: ['info', 'downloading'],
  downloaded: ['info', 'downloaded'],
  verified: ['info', 'objects verified'],
  writing: ['info', 'writing the new deployment'],
  switched: ['notice', 'switched to the new deployment, on trial'],
  rebooting: ['notice', 'rebooting into the new deployment'],
  healthy: ['info', 'health check passed'],
  unhealthy: ['warning', 'health check failed'],
  committed: ['notice', 'committed'],
  rolled_back: ['warning', 'rolled back'],
  failed: ['err', 'update failed'],
};

/** The log line of a step: its message, then rollout, revision and phase, then what the step adds. */
export function updateStepRecord(step: UpdateStep): LogRecord {
  const [priority, message] = DESCRIBED[step.step];
  const percent =
    step.received !== undefined && step.total ? Math.floor((100 * step.received) / step.total) : undefined;
  return {
    priority,
    message,
    fields: {
      rollout: step.rolloutId,
      revision: step.revision,
      phase: step.step,
      deployment: step.deployment,
      objects: step.objects,
      received: step.received,
      total: step.total,
      percent,
      bytes: step.bytes,
      source: step.source,
      duplicate: step.duplicate,
      code: step.error?.code,
      error: step.error?.message,
    },
  };
}

/** The service manager's STATUS= text for a step: what the agent is doing now. */
export function updateStepStatus(step: UpdateStep): string {
  const percent =
    step.received !== undefined && step.total ? ` ${Math.floor((100 * step.received) / step.total)}%` : '';
  const code = step.error ? ` (${step.error.code})` : '';
  return `${DESCRIBED[step.step][1]}${percent}${code}: revision ${step.revision}, rollout ${step.rolloutId}`;
}

/** Whether a download at `percent` crossed into a tenth it had not reached: progress lines at 10, 20, … %. */
export function progressTenths(): (percent: number) => boolean {
  let reached = 0;
  return (percent) => {
    const tenth = Math.min(10, Math.floor(percent / 10));
    if (tenth <= reached) return false;
    reached = tenth;
    return true;
  };
}
