import { pino, type Logger } from 'pino';
import { formatLogRecord, isJournalStream, type LogFormat, type LogPriority } from '../agent/log-record.ts';
import type { LogEntry } from '@temporalio/worker';
import type { RuntimeLogSink } from '../services/temporal/index.ts';
import { UsageError, type Io, type OptionSpec } from './command.ts';

/**
 * A server process's log (serve, worker, api serve): pino's logger, its
 * lines in the device agent's format, so one grep or one journal query reads
 * both sides: `text` (`tag: message key=value ...`) or `json` (one object per
 * line, `priority` and `message` first), with the syslog priority prefix
 * when stderr is the journal. `notice` sits between info and warn, as in syslog.
 */
export type ServerLog = Logger<'notice'>;

export const logFormatOption: Record<string, OptionSpec> = {
  'log-format': {
    type: 'string',
    description: 'text (default: message key=value ...) or json (one object per line), as the agent logs',
  },
};

const PRIORITY: Record<string, LogPriority> = {
  fatal: 'err',
  error: 'err',
  warn: 'warning',
  notice: 'notice',
  info: 'info',
  debug: 'info',
  trace: 'info',
};

/** The log of the process `tag` names, on `io.err`, in the format `--log-format` asks for. */
export function serverLog(io: Io, tag: string, values: Record<string, unknown>): ServerLog {
  const style = values['log-format'] ?? 'text';
  if (style !== 'text' && style !== 'json') throw new UsageError('--log-format is text or json');
  return serverLogTo((line) => io.err(line), { style, journal: isJournalStream(process.env), tag });
}

/** A log whose every line goes to `write`, formatted as `format` says. */
export function serverLogTo(write: (line: string) => void, format: LogFormat): ServerLog {
  return pino<'notice'>(
    {
      customLevels: { notice: 35 },
      base: undefined, // no pid or hostname: the journal and the agent's lines have neither
      timestamp: false,
      messageKey: 'message',
      formatters: { level: (label) => ({ level: label }) },
    },
    { write: (json: string) => write(lineOf(json, format)) },
  );
}

/** One pino record as the agent writes it: fields flat, an error as its message (and its stack). */
function lineOf(json: string, format: LogFormat): string {
  const { level, message, err, ...rest } = JSON.parse(json) as Record<string, unknown>;
  const fields: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(rest))
    fields[key] = typeof value === 'object' && value !== null ? JSON.stringify(value) : (value as string);
  if (err && typeof err === 'object') {
    const { message: error, stack } = err as { message?: string; stack?: string };
    if (error !== undefined) fields['error'] = error;
    if (stack !== undefined) fields['stack'] = stack;
  }
  return formatLogRecord(
    {
      priority: PRIORITY[String(level)] ?? 'info',
      message: typeof message === 'string' ? message : '',
      fields,
    },
    format,
  );
}

const SDK_LEVEL: Record<LogEntry['level'], 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** The Temporal SDK's lines into `log`, as `temporal` fields (its error as the error). */
export function temporalSink(log: ServerLog): RuntimeLogSink {
  const sdk = log.child({ from: 'temporal' });
  return ({ level, message, meta }) => {
    const { error, ...fields } = meta ?? {};
    sdk[SDK_LEVEL[level]]({ ...fields, ...(error instanceof Error ? { err: error } : {}) }, message);
  };
}
