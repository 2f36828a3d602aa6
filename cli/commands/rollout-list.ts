import { UprollError } from '../../core/index.ts';
import {
  readRolloutViews,
  rolloutListRows,
  ROLLOUT_VIEW_STATUSES as STATUSES,
  type RolloutListRow,
  type RolloutView,
  type RolloutViewStatus,
} from '../../services/projections/index.ts';
import { UsageError, type Command, type Io } from '../command.ts';
import { withDeploymentNats } from '../deployment-connections.ts';
import { DEPLOYMENT_HELP, deploymentOptions } from '../deployment.ts';

export const rolloutList: Command = {
  name: 'rollout list',
  summary: 'Every rollout, newest first: status, revision, who started it, when, and its counts.',
  usage: `uproll rollout list [--status ${STATUSES.join('|')}] [--json]`,
  details:
    'Read from the rollout projection, which the services keep from the event log\n' +
    '(`uproll events rebuild` builds it again). SKIPPED is known once a rollout ended.\n' +
    DEPLOYMENT_HELP,
  options: {
    ...deploymentOptions,
    status: { type: 'string', description: `only rollouts in this status (${STATUSES.join(', ')})` },
  },
  async run({ values, positionals }, io) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const status = statusOption(values['status']);
    return withDeploymentNats(values, async (nc) => {
      printRolloutList(Object.values(await readRolloutViews(nc)), status, values.json === true, io);
      return 0;
    });
  },
};

function statusOption(value: unknown): RolloutViewStatus | undefined {
  if (value === undefined) return undefined;
  if (!STATUSES.includes(value as RolloutViewStatus))
    throw new UprollError(
      'INVALID_INPUT',
      `--status must be one of ${STATUSES.join(', ')}, got ${JSON.stringify(value)}`,
    );
  return value as RolloutViewStatus;
}

/** Prints the list: JSON, a table, or what to do when the projection holds no rollout yet. */
export function printRolloutList(
  views: readonly RolloutView[],
  status: RolloutViewStatus | undefined,
  json: boolean,
  io: Io,
): void {
  const rows = rolloutListRows(views, status);
  if (json) io.out(JSON.stringify(rows));
  else if (views.length === 0)
    io.out('no rollouts in the projection yet (`uproll events rebuild` builds it from the event log)');
  else if (rows.length === 0) io.out(`no ${status} rollouts (of ${views.length})`);
  else printRows(rows, io);
}

function printRows(rows: readonly RolloutListRow[], io: Io): void {
  const table = [
    [
      'ROLLOUT',
      'STATUS',
      'REVISION',
      'STARTED BY',
      'STARTED',
      'COMMITTED',
      'ROLLED BACK',
      'FAILED',
      'SKIPPED',
    ],
    ...rows.map((row) =>
      [
        row.rolloutId,
        row.status,
        row.revision ?? '-',
        row.startedBy ?? '-',
        row.startedAt ?? '-',
        String(row.committed),
        String(row.rolledBack),
        String(row.failed),
        row.skipped === null ? '-' : String(row.skipped),
      ].map((cell) => cell.replace(/\p{Cc}+/gu, ' ')),
    ),
  ];
  const widths = table[0]!.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
  for (const row of table)
    io.out(
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    );
}
