import type { StoredEvent } from '../nats/index.ts';

/** One line of the audit trail: when, which aggregate, what happened, who or what did it. */
export interface AuditLine {
  sequence: number;
  at: string;
  /** `aggregate/id`, e.g. `rollout/ro-1`. */
  subject: string;
  type: string;
  summary: string;
}

const MAX_SUMMARY = 160;

/** Describes a stored event for people; pure, and tolerant of data of any shape. */
export function auditLine({ sequence, event }: StoredEvent): AuditLine {
  const data = isRecord(event.data) ? event.data : {};
  return {
    sequence,
    at: event.at,
    subject: `${event.aggregate}/${event.aggregateId}`,
    type: event.type,
    summary: clip(summarize(event.type, data)),
  };
}

/** `at  aggregate/id  type  summary`, in columns. */
export function formatAuditLine(line: AuditLine): string {
  return `${line.at}  ${line.subject.padEnd(36)} ${line.type.padEnd(24)} ${line.summary}`.trimEnd();
}

function summarize(type: string, data: Record<string, unknown>): string {
  const by = text(data['by']);
  const reason = text(data['reason']);
  const wave = `wave ${text(data['wave']) ?? '?'}`;
  const counts = countsText(data['counts']);
  switch (type) {
    case 'rollout.started': {
      const waves = Array.isArray(data['waves']) ? data['waves'].map(String).join('+') : '?';
      return `${byPrefix(by)}revision ${text(data['revision']) ?? '?'}, waves ${waves}`;
    }
    case 'rollout.wave.started':
      return `${wave}: ${text(data['devices']) ?? '?'} devices`;
    case 'rollout.devices.joined':
      return `${wave}: ${text(data['devices']) ?? '?'} devices joined the target`;
    case 'rollout.devices.deferred':
      return `${text(data['devices']) ?? '?'} devices wait for their maintenance window (the first opens ${text(data['firstWindowOpensAt']) ?? '?'})`;
    case 'rollout.soak.regressed':
      return `left their new revision during the soak: ${Array.isArray(data['devices']) ? data['devices'].join(', ') : '?'}`;
    case 'rollout.offline.waiting':
      return `waiting for ${text(data['devices']) ?? '?'} offline devices to come back`;
    case 'rollout.offline.returned':
      return `${text(data['devices']) ?? '?'} offline devices came back`;
    case 'rollout.wave.finished':
      return `${wave}: ${counts ?? '?'}`;
    case 'rollout.gate.passed':
      return wave;
    case 'rollout.gate.failed':
      return `${wave}: ${reason ?? 'failed'}`;
    case 'rollout.security.alert':
      return `device ${text(data['deviceId']) ?? '?'}: ${errorText(data['error']) ?? '?'}`;
    case 'rollout.paused':
    case 'rollout.resumed':
    case 'rollout.aborted':
    case 'rollout.policy.changed':
    case 'rollout.rolled_back':
    case 'rollout.completed': {
      const skipped = Number(data['skipped']) > 0 ? `${text(data['skipped'])} skipped` : undefined;
      return [by && `by ${by}`, reason, [counts, skipped].filter(Boolean).join(', ')]
        .filter(Boolean)
        .join(': ');
    }
    case 'rollout.rollback.started':
      return `${byPrefix(by)}${retryPrefix(data)}${text(data['devices']) ?? '?'} devices to return to their previous revision`;
    case 'rollout.rollback.device': {
      const runs = text(data['runs']);
      const reason = errorText(data['reason']);
      return (
        `device ${text(data['deviceId']) ?? '?'} ${text(data['outcome']) ?? '?'}, from ${text(data['from']) ?? '?'}` +
        (runs ? `, runs ${runs}` : '') +
        (reason ? `: ${reason}` : '')
      );
    }
    case 'rollout.rollback.finished': {
      const c = isRecord(data['counts']) ? data['counts'] : {};
      const n = (key: string) => text(c[key]) ?? '?';
      return `${byPrefix(by)}${retryPrefix(data)}${n('rolled_back')} rolled back, ${n('unchanged')} unchanged, ${n('busy')} busy, ${n('failed')} failed`;
    }
    case 'device.report.accepted': {
      const revision = text(data['revision']);
      return `counter ${text(data['counter']) ?? '?'}${revision ? `, runs ${revision}` : ''}`;
    }
    case 'device.report.rejected':
      return `${errorText(data['error']) ?? 'rejected'}${countSuffix(data)}`;
    case 'api.call.refused': {
      const who = text(data['subject']) ?? text(data['remote']);
      return `${text(data['method']) ?? '?'} ${text(data['path']) ?? '?'}: ${text(data['code']) ?? '?'}${who ? ` (${who})` : ''}${countSuffix(data)}`;
    }
  }
  if (type.startsWith('device.update.')) {
    const deployment = text(data['deployment']);
    const error = errorText(data['error']);
    return (
      `rollout ${text(data['rolloutId']) ?? '?'}, revision ${text(data['revision']) ?? '?'}` +
      (deployment ? `, deployment ${deployment}` : '') +
      (error ? `: ${error}` : '')
    );
  }
  // Operators' events (keys, releases, provisioning) say who and what in `by` and `summary`.
  const summary = text(data['summary']);
  return by || summary ? [by && `by ${by}`, summary].filter(Boolean).join(': ') : JSON.stringify(data);
}

function byPrefix(by: string | undefined): string {
  return by ? `by ${by}: ` : '';
}

function countsText(value: unknown): string | undefined {
  if (!isRecord(value)) return undefined;
  const n = (key: string) => text(value[key]) ?? '?';
  return `${n('committed')} committed, ${n('rolledBack')} rolled back, ${n('failed')} failed`;
}

/** Sampled refusals: how many one event stands for (services/nats/refusal-sampler.ts). */
function countSuffix(data: Record<string, unknown>): string {
  const count = data['count'];
  if (typeof count !== 'number' || count <= 1) return '';
  const since = text(data['since']);
  return `, ${count} times${since ? ` since ${since}` : ''}`;
}

function errorText(value: unknown): string | undefined {
  if (!isRecord(value)) return undefined;
  const code = text(value['code']);
  const message = text(value['message']);
  return code && message ? `${code}: ${message}` : (code ?? message);
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One line, no control characters (no terminal escapes) and not too long: event text comes from devices and people. */
function clip(summary: string): string {
  const line = summary.replace(/\p{Cc}+/gu, ' ');
  return line.length > MAX_SUMMARY ? `${line.slice(0, MAX_SUMMARY - 1)}…` : line;
}

/** "retry N: " for the events of a rollback retried after the end. */
function retryPrefix(data: Record<string, unknown>): string {
  return typeof data['attempt'] === 'number' ? `retry ${data['attempt']}: ` : '';
}
