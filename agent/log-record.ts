import { fstatSync } from 'node:fs';

/** syslog(3) priorities the agent uses, most severe first. */
export type LogPriority = 'err' | 'warning' | 'notice' | 'info';

const SYSLOG_LEVEL: Record<LogPriority, number> = { err: 3, warning: 4, notice: 5, info: 6 };

/** One log line: a short message and the fields a field engineer filters on. */
export interface LogRecord {
  priority: LogPriority;
  message: string;
  fields?: Readonly<Record<string, string | number | boolean | undefined>>;
}

export interface LogFormat {
  /** `text`: `message key=value …`; `json`: one object per line. */
  style: 'text' | 'json';
  /** stderr is the journal: each line starts with its priority (`<3>`), journald strips it. */
  journal: boolean;
  /** Starts each text line outside the journal (the journal names the unit itself). */
  tag?: string;
}

/** The line for `record` in `format` (no newline). */
export function formatLogRecord(record: LogRecord, format: LogFormat): string {
  const fields = Object.entries(record.fields ?? {}).filter(
    (entry): entry is [string, string | number | boolean] => entry[1] !== undefined,
  );
  const prefix = format.journal ? `<${SYSLOG_LEVEL[record.priority]}>` : '';
  if (format.style === 'json')
    return `${prefix}${JSON.stringify({ priority: record.priority, message: record.message, ...Object.fromEntries(fields) })}`;
  const tag = !format.journal && format.tag ? `${format.tag}: ` : '';
  const pairs = fields.map(([key, value]) => ` ${key}=${quoted(String(value))}`).join('');
  return `${prefix}${tag}${record.message.replace(/[\r\n]+/g, ' ')}${pairs}`;
}

/** A value as is when it has no space or quote (one token for grep and awk), else as a JSON string. */
function quoted(value: string): string {
  return /^[\w.,:/@%+-]+$/.test(value) ? value : JSON.stringify(value);
}

/**
 * Whether file descriptor `fd` is the journal stream systemd connected
 * (JOURNAL_STREAM is `device:inode` of it; a redirected stderr is not).
 */
export function isJournalStream(env: NodeJS.ProcessEnv, fd = 2): boolean {
  const stream = /^(\d+):(\d+)$/.exec(env['JOURNAL_STREAM'] ?? '');
  if (!stream) return false;
  try {
    const stat = fstatSync(fd, { bigint: true });
    return stat.dev === BigInt(stream[1]!) && stat.ino === BigInt(stream[2]!);
  } catch {
    return false;
  }
}
