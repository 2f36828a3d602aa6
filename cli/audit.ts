import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { ACTOR_PATTERN, type DomainEvent } from '../core/index.ts';
import { EventLog, EventOutbox } from '../services/nats/index.ts';
import { stateDirOf, UsageError, type Io, type OptionSpec } from './command.ts';
import { withDeploymentNats } from './deployment-connections.ts';
import { hasDeployment } from './deployment.ts';
import { systemClock } from './system-clock.ts';

/** `--by`: who does what a command changes. */
export const byOption = {
  by: {
    type: 'string',
    description: 'who does this, for the audit trail (required; or set $UPROLL_BY)',
  },
} satisfies Record<string, OptionSpec>;

/** Who runs the command: `--by`, else `$UPROLL_BY`; never a guess. Ask it before changing anything. */
export function actorOf(values: Record<string, unknown>): string {
  const by = typeof values['by'] === 'string' ? values['by'] : process.env['UPROLL_BY'];
  if (!by || !ACTOR_PATTERN.test(by))
    throw new UsageError('--by NAME is required (or $UPROLL_BY): who does this, for the audit trail');
  return by;
}

/** The outbox of the state directory: audit events wait there until the event log has them. */
export function outboxOf(values: Record<string, unknown>): EventOutbox {
  return new EventOutbox(join(stateDirOf(values), 'audit-outbox.jsonl'));
}

/**
 * Records what an operator did on the audit trail, with who (`data.by`):
 * kept first in the state directory's outbox, so that nothing is lost, then
 * sent to the event log of the deployment the options or the environment
 * name, else of the local stack. Offline (a key ceremony on an air-gapped
 * machine) it stays in the outbox for `uproll serve` or the next command
 * that reaches the event log.
 */
export async function recordAudit(
  values: Record<string, unknown>,
  io: Io,
  by: string,
  event: Omit<DomainEvent, 'at' | 'data'> & { data: Record<string, unknown> & { summary: string } },
): Promise<void> {
  const outbox = outboxOf(values);
  await outbox.add(randomUUID(), { ...event, at: systemClock().toISOString(), data: { ...event.data, by } });
  if (!(await hasDeployment(values))) {
    io.err(`audit: ${event.type} kept in ${outbox.path} until the event log is reachable`);
    return;
  }
  await withDeploymentNats(values, (nc) => outbox.flush(new EventLog(nc))).catch(() => {
    io.err(`audit: ${event.type} kept in ${outbox.path} until the event log is reachable`);
  });
}
