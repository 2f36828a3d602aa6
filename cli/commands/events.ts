import { TOKEN_PATTERN, UprollError } from '../../core/index.ts';
import type { StoredEvent } from '../../services/nats/index.ts';
import {
  ALL_EVENTS,
  auditLine,
  formatAuditLine,
  lastEventSequence,
  readEvents,
  rebuildProjections,
} from '../../services/projections/index.ts';
import { UsageError, type Command, type Io } from '../command.ts';
import { withDeploymentNats } from '../deployment-connections.ts';
import { DEPLOYMENT_HELP, deploymentOptions } from '../deployment.ts';

const AGGREGATES = ['device', 'rollout', 'repository', 'api'] as const;

export const eventsTail: Command = {
  name: 'events tail',
  summary: 'The audit trail: events of the log, oldest first (time, aggregate/id, type, who/what).',
  usage:
    'uproll events tail [--aggregate device|rollout|repository|api] [--id ID] [--limit N] [--follow] [--json]',
  details:
    'With --limit, the last N events that match. --follow keeps printing new events until interrupted.\n' +
    'With --json, one JSON object per line: the event with its stream sequence.\n' +
    DEPLOYMENT_HELP,
  options: {
    ...deploymentOptions,
    aggregate: { type: 'string', description: `only events of this aggregate (${AGGREGATES.join(', ')})` },
    id: { type: 'string', description: 'only events of this aggregate id (a device id, a rollout id, ...)' },
    limit: { type: 'string', description: 'only the last N events (default: all)' },
    follow: { type: 'boolean', short: 'f', description: 'keep printing new events until interrupted' },
  },
  async run({ values, positionals }, io) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const filter = eventFilter(values);
    const limit = limitOption(values);
    const print = (stored: StoredEvent) => printEvents([stored], values.json === true, io);
    return withDeploymentNats(values, async (nc) => {
      const logEnd = await lastEventSequence(nc);
      const backlog: StoredEvent[] = [];
      for await (const stored of readEvents(nc, { filter })) {
        backlog.push(stored);
        if (limit !== undefined && backlog.length > limit) backlog.shift();
      }
      backlog.forEach(print);
      if (!values['follow']) return 0;
      const stop = new AbortController();
      const interrupt = () => stop.abort();
      process.once('SIGINT', interrupt).once('SIGTERM', interrupt);
      try {
        const fromSequence = Math.max(logEnd, backlog.at(-1)?.sequence ?? 0) + 1;
        // Until interrupted, or until nobody reads what it prints (`| head` quit).
        const follow = io.outputClosed ? AbortSignal.any([stop.signal, io.outputClosed]) : stop.signal;
        for await (const stored of readEvents(nc, { filter, fromSequence, follow })) print(stored);
      } finally {
        process.off('SIGINT', interrupt).off('SIGTERM', interrupt);
      }
      return 0;
    });
  },
};

export const eventsRebuild: Command = {
  name: 'events rebuild',
  summary: 'Rebuild the projections (rollouts, devices, fleet) by replaying the whole event log.',
  usage: 'uproll events rebuild [--json]',
  details: DEPLOYMENT_HELP,
  options: { ...deploymentOptions },
  async run({ values, positionals }, io) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    return withDeploymentNats(values, async (nc) => {
      const result = await rebuildProjections(nc);
      if (values.json) io.out(JSON.stringify(result));
      else
        io.out(
          `rebuilt from ${result.events} events (up to sequence ${result.lastSequence}): ` +
            `${result.rollouts} rollouts, ${result.devices} devices, ${result.revisions} revisions in the fleet ` +
            `(${result.written} values written, ${result.deleted} deleted)`,
        );
      return 0;
    });
  },
};

/** The log subject the options select: one aggregate, one id, both, or everything. */
function eventFilter(values: Record<string, unknown>): string {
  const aggregate = values['aggregate'];
  const id = values['id'];
  if (aggregate !== undefined && !AGGREGATES.includes(aggregate as (typeof AGGREGATES)[number]))
    throw new UprollError(
      'INVALID_INPUT',
      `--aggregate must be one of ${AGGREGATES.join(', ')}, got ${JSON.stringify(aggregate)}`,
    );
  if (id !== undefined && (typeof id !== 'string' || !TOKEN_PATTERN.test(id)))
    throw new UprollError('INVALID_INPUT', `--id ${JSON.stringify(id)} must be 1-64 of A-Z a-z 0-9 _ -`);
  if (aggregate === undefined && id === undefined) return ALL_EVENTS;
  return `uproll.evt.${typeof aggregate === 'string' ? aggregate : '*'}.${typeof id === 'string' ? id : '>'}`;
}

/** --limit N: a whole number of at least 1, or undefined for all. */
export function limitOption(values: Record<string, unknown>, name = 'limit'): number | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1)
    throw new UprollError(
      'INVALID_INPUT',
      `--${name} must be a whole number of at least 1, got ${JSON.stringify(value)}`,
    );
  return limit;
}

/** Prints events as the audit trail, or as JSON lines. */
export function printEvents(events: readonly StoredEvent[], json: boolean, io: Io): void {
  for (const stored of events)
    io.out(
      json
        ? JSON.stringify({ sequence: stored.sequence, ...stored.event })
        : formatAuditLine(auditLine(stored)),
    );
}
