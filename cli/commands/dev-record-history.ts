import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
// Not re-exported from the package's index; Temporal's samples import it from here too.
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { UprollError } from '../../core/index.ts';
import { UsageError, type Command } from '../command.ts';
import { withDeploymentTemporal } from '../deployment-connections.ts';
import { DEPLOYMENT_HELP, deploymentOptions } from '../deployment.ts';

/** A replay fixture is read by every `npm test`: a history past this is a run too long to keep. */
export const MAX_HISTORY_BYTES = 200 * 1024;

export const devRecordHistory: Command = {
  name: 'dev record-history',
  summary: "Write a workflow's history as JSON, for the replay tests (test/fixtures/histories/).",
  usage: 'uproll dev record-history WORKFLOW_ID --out FILE [--run-id ID] [--json]',
  details:
    "The history of the workflow's latest run (or --run-id's), as Temporal's tools write it and\n" +
    'Worker.runReplayHistories reads it. A running workflow is recorded as far as it got. An existing\n' +
    `FILE is never replaced (a recorded history stays as it was), and one over ${MAX_HISTORY_BYTES / 1024} KB is refused.\n` +
    DEPLOYMENT_HELP,
  options: {
    ...deploymentOptions,
    out: { type: 'string', description: 'the JSON file to write, e.g. test/fixtures/histories/NAME.json' },
    'run-id': { type: 'string', description: 'one run of the workflow (default: its latest)' },
  },
  run({ values, positionals }, io) {
    const [workflowId, extra] = positionals;
    if (!workflowId) throw new UsageError('name the WORKFLOW_ID');
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
    const out = values['out'];
    if (typeof out !== 'string') throw new UsageError('--out FILE is required');
    const runId = typeof values['run-id'] === 'string' ? values['run-id'] : undefined;
    return withDeploymentTemporal(values, async (client) => {
      const handle = client.workflow.getHandle(workflowId, runId);
      // describe() names a workflow that does not exist (WORKFLOW_NOT_FOUND); fetchHistory() would not.
      const { type, status, runId: recordedRun } = await handle.describe();
      const history = await client.workflow.getHandle(workflowId, recordedRun).fetchHistory();
      const json = `${historyToJSON(history)}\n`;
      const bytes = Buffer.byteLength(json);
      if (bytes > MAX_HISTORY_BYTES)
        throw new UprollError(
          'LIMIT_EXCEEDED',
          `the history of ${workflowId} is ${kb(bytes)}, over the ${kb(MAX_HISTORY_BYTES)} a replay fixture may be: record a shorter run`,
        );
      await mkdir(dirname(out), { recursive: true });
      await writeFile(out, json, { flag: 'wx' }).catch((cause: unknown) => {
        if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw cause;
        throw new UprollError('INVALID_INPUT', `${out} exists: a recorded history is kept as it was`, {
          cause,
        });
      });
      const recorded = {
        workflowId,
        runId: recordedRun,
        workflowType: type,
        status: status.name,
        events: history.events?.length ?? 0,
        bytes,
        out,
      };
      if (values.json) io.out(JSON.stringify(recorded));
      else
        io.out(
          `recorded ${recorded.events} events of ${type} ${workflowId} (${status.name}) in ${out}, ${kb(bytes)}`,
        );
      return 0;
    });
  },
};

const kb = (bytes: number) => `${Math.ceil(bytes / 1024)} KB`;
