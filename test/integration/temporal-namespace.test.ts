import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { requireSettings, serviceCredentials, stackAddresses } from '../../services/dev-stack/index.ts';
import { runUproll, spawnUproll, type CliProcess } from '../helpers/cli-process.ts';
import { eventually } from '../helpers/eventually.ts';
import { uniqueId } from './harness.ts';

// Uproll on a Temporal namespace other than `default`, as on a cluster: the run's dev server with a
// namespace this file creates, given to the worker and the CLI by --temporal-namespace. On a named
// deployment a namespace or search attribute that is missing stops them at start with
// TEMPORAL_NOT_READY, saying the `temporal operator` command that creates it.

const namespace = uniqueId('uproll-ns');
const taskQueue = uniqueId('ns-worker');
let stateDir: string;
let temporal: string;
let connection: Connection;
let deployment: string[];
const started: CliProcess[] = [];

const env = { UPROLL_TEMPORAL: '', UPROLL_NATS: '', UPROLL_NATS_CREDS: '', UPROLL_DEPLOYMENT_FILE: '' };
const uproll = (args: string[]) => runUproll([...args, '--state-dir', stateDir], env);

beforeAll(async () => {
  const suite = inject('integration').stateDir;
  const addresses = stackAddresses(await requireSettings(suite));
  temporal = addresses.temporal;
  stateDir = await mkdtemp(join(tmpdir(), 'uproll-temporal-namespace-'));
  const seedFile = join(stateDir, 'services.nkey');
  await writeFile(seedFile, `${await serviceCredentials(suite)}\n`, { mode: 0o600 });
  deployment = [
    ...['--temporal', temporal, '--nats', addresses.nats, '--nats-seed-file', seedFile],
    ...['--nats-ca-file', join(suite, 'tls', 'ca.crt')],
  ];
  connection = await Connection.connect({ address: temporal });
  await connection.workflowService.registerNamespace({
    namespace,
    workflowExecutionRetentionPeriod: msToTs('1 day'),
  });
});
afterAll(async () => {
  for (const cli of started) {
    if (cli.child.exitCode !== null) continue;
    cli.child.kill('SIGTERM');
    await cli.exited;
  }
  await connection.close();
  await rm(stateDir, { recursive: true, force: true });
});

describe('a deployment on a Temporal namespace of its own', () => {
  it('refuses a namespace that does not exist, in the worker and in the CLI, with the command that creates it', async () => {
    const missing = uniqueId('no-such-ns');
    const worker = await uproll([
      'worker',
      '--task-queue',
      taskQueue,
      '--temporal-namespace',
      missing,
      ...deployment,
    ]);
    expect(worker.status, worker.stderr).toBe(1);
    expect(worker.stderr).toContain(
      `uproll: TEMPORAL_NOT_READY: namespace ${missing} does not exist on the Temporal at ${temporal}: ` +
        `create it with \`temporal operator namespace create --namespace ${missing} --retention 30d --address ${temporal}\``,
    );
    const status = await uproll(['rollout', 'status', 'r-1', '--temporal-namespace', missing, ...deployment]);
    expect(status.status, status.stderr).toBe(1);
    expect(status.stderr).toContain(`uproll: TEMPORAL_NOT_READY: namespace ${missing} does not exist`);
  });

  it("refuses a namespace without Uproll's search attributes, then runs on it once they are registered", async () => {
    // A new namespace is known to every frontend service a little after it is registered.
    const notReady = await eventually('the new namespace to be known', async () => {
      const run = await uproll([
        'worker',
        '--task-queue',
        taskQueue,
        '--temporal-namespace',
        namespace,
        ...deployment,
      ]);
      return !run.stderr.includes('does not exist') && run;
    });
    expect(notReady.status, notReady.stderr).toBe(1);
    expect(notReady.stderr).toContain(
      `uproll: TEMPORAL_NOT_READY: search attributes UprollDeviceId (Keyword), UprollRolloutId (Keyword) not registered ` +
        `on namespace ${namespace} of the Temporal at ${temporal}: create them with ` +
        `\`temporal operator search-attribute create --namespace ${namespace} --name UprollDeviceId --name UprollRolloutId --type Keyword --address ${temporal}\``,
    );

    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: { UprollDeviceId: 2, UprollRolloutId: 2 }, // INDEXED_VALUE_TYPE_KEYWORD
    });
    const worker = spawnUproll(
      [
        ...['worker', '--json', '--state-dir', stateDir, '--task-queue', taskQueue],
        ...['--temporal-namespace', namespace, ...deployment],
      ],
      env,
    );
    started.push(worker);
    const ready = await eventually('the worker to be ready', () => {
      if (worker.child.exitCode !== null) throw new Error(`exited: ${worker.stderr.join('\n')}`);
      return worker.stdout[0];
    });
    expect(JSON.parse(ready)).toMatchObject({ ready: true, taskQueue, temporalNamespace: namespace });

    // It polls its task queue in that namespace, and the CLI reaches it there.
    const pollers = await eventually('the worker to poll in the namespace', async () => {
      const queue = await connection.workflowService.describeTaskQueue({
        namespace,
        taskQueue: { name: taskQueue },
        taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
      });
      return queue.pollers.length > 0 && queue.pollers;
    });
    expect(pollers.length).toBeGreaterThan(0);
    const list = await uproll([
      'rollout',
      'list',
      '--json',
      '--temporal-namespace',
      namespace,
      ...deployment,
    ]);
    expect(list.status, list.stderr).toBe(0);

    // A deployment file names the same; an option still wins over it.
    const file = join(stateDir, 'deployment.json');
    await writeFile(file, JSON.stringify({ 'temporal-namespace': namespace }));
    const fromFile = await uproll(['rollout', 'status', 'r-1', '--deployment-file', file, ...deployment]);
    expect(fromFile.stderr).toContain('ROLLOUT_NOT_FOUND');
    const overridden = await uproll([
      ...['rollout', 'status', 'r-1', '--deployment-file', file],
      ...['--temporal-namespace', uniqueId('other-ns'), ...deployment],
    ]);
    expect(overridden.stderr).toContain('TEMPORAL_NOT_READY');
  }, 120_000);

  it('speaks TLS to Temporal when told to: the plain-text dev server does not answer it', async () => {
    const status = await uproll(['rollout', 'status', 'r-1', '--temporal-tls', ...deployment]);
    expect(status.status, status.stderr).toBe(1);
    expect(status.stderr).toMatch(
      // (Node also warns on stderr of TLS to an IP address, DEP0123.)
      new RegExp(`^uproll: TEMPORAL_UNREACHABLE: cannot reach Temporal at ${temporal}: `, 'm'),
    );
  }, 30_000);
});
