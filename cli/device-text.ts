import type { ErrorInfo, HeartbeatApp } from '../core/index.ts';

/** Lines of a device's error shown at most: an app's last output, not its whole log. */
export const MAX_SHOWN_LINES = 20;
export const MAX_SHOWN_CHARS = 4096;
const MAX_FIRST_LINE = 512;

/** Device-reported text on one line, without terminal escapes. */
export function oneLine(text: string): string {
  return text.replace(/\p{Cc}+/gu, ' ');
}

/**
 * A device-reported error as lines for a terminal: `CODE: first line`,
 * then the rest of the message (an unhealthy app's last output), its last
 * {@link MAX_SHOWN_LINES} lines within {@link MAX_SHOWN_CHARS}, each line
 * without control characters (a device could send terminal escapes).
 */
export function errorLines(error: ErrorInfo): string[] {
  const [first = '', ...rest] = error.message.split('\n');
  const all = rest.join('\n');
  const shown = all.slice(-MAX_SHOWN_CHARS).split('\n').slice(-MAX_SHOWN_LINES);
  return [
    oneLine(`${error.code}: ${first.slice(0, MAX_FIRST_LINE)}`),
    ...(shown.join('\n') === all ? [] : ['(earlier lines left out)']),
    ...(rest.length > 0 ? shown.map(oneLine) : []),
  ];
}
/** One app of a heartbeat as `name state`, with its exit code and restarts when they say something. */
export function appSummary(app: HeartbeatApp): string {
  const exit = app.exitCode === null ? '' : ` (exit code ${app.exitCode})`;
  const restarts = app.restarts > 0 ? `, ${app.restarts} ${app.restarts === 1 ? 'restart' : 'restarts'}` : '';
  return oneLine(`${app.name} ${app.state}${exit}${restarts}`);
}
