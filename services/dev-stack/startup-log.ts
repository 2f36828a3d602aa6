/** Lines that say why a server gave up: Go's `panic:`, cobra's `Error:`, and error or fatal log records. */
const CAUSE = /^(panic|Error|fatal)\b|"level":"(error|fatal)"|\[(ERR|FTL)\]/;
const CAUSES_SHOWN = 3;
const TAIL_SHOWN = 8;

/**
 * What of a server's log to show when it died during startup: the lines that
 * name the cause, then its last lines. A Go panic ends in a stack trace, so
 * the last lines alone hid the cause (seen: a Temporal dev server that died
 * under load showed fifteen lines of goroutine frames).
 */
export function startupLogExcerpt(log: string): string {
  const lines = log.split('\n').filter((line) => line.trim() !== '');
  const tailStart = Math.max(0, lines.length - TAIL_SHOWN);
  const causes = lines
    .slice(0, tailStart)
    .filter((line) => CAUSE.test(line))
    .slice(0, CAUSES_SHOWN);
  const tail = lines.slice(tailStart);
  return [...causes, ...(causes.length > 0 ? ['...'] : []), ...tail].join('\n');
}
