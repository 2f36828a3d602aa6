import { logFormatOption, serverLog, temporalSink } from '../server-log.ts';
import { ensureFreshnessSchedule, installTemporalRuntime } from '../../services/temporal/index.ts';
import { taskQueueOf, taskQueueOption } from '../task-queue.ts';
import { startFleetServices } from '../fleet-services.ts';
import { stateDirOf, type Command } from '../command.ts';
import { DEPLOYMENT_HELP, deploymentOf, deploymentOptions } from '../deployment.ts';
import { passphraseOptions, readPassphrase } from '../passphrase.ts';
import { locationOptions } from '../locations.ts';
import { listenForStopSignals } from '../stop-signals.ts';
import { workerKeyServices } from '../worker-keys.ts';

export const worker: Command = {
  name: 'worker',
  summary:
    'Run the rollout worker and the telemetry bridge on a deployment (default: the local stack) until stopped.',
  usage: 'uproll worker [--task-queue NAME] [--passphrase-env NAME] [--json]',
  details:
    'Prints one line (a JSON object with --json) once it polls the task queue. SIGINT or SIGTERM stop\n' +
    'it gracefully (a second signal meanwhile is ignored); a crash loses nothing: Temporal resumes every update on the next worker.\n' +
    'With the online key passphrase it also runs the metadata freshness job, hourly, on a Schedule,\n' +
    'and runs rollouts (the Director assigns releases with its online keys).\n' +
    DEPLOYMENT_HELP,
  options: {
    ...locationOptions,
    ...deploymentOptions,
    ...taskQueueOption,
    ...passphraseOptions('', 'online key'),
    ...logFormatOption,
  },
  async run({ values }, io) {
    const log = serverLog(io, 'worker', values);
    const taskQueue = taskQueueOf(values);
    installTemporalRuntime('WARN', temporalSink(log));
    const freshness = values['passphrase-env'] !== undefined || values['passphrase-fd'] !== undefined;
    const keyed = freshness
      ? await workerKeyServices(values, await readPassphrase(values, '', 'online key'))
      : undefined;
    // Listening from the start: a signal during startup stops the worker once it is up, never half-way.
    const signals = listenForStopSignals(log);
    try {
      const services = await startFleetServices({
        stateDir: stateDirOf(values),
        deployment: await deploymentOf(values),
        onDropped: (reason) => log.warn({ reason }, 'telemetry dropped'),
        onWarning: (message) => log.warn(message),
        ...(keyed ?? {}),
        taskQueue,
      });
      try {
        await services.startWorker();
        if (freshness) await ensureFreshnessSchedule(services.client, { taskQueue });
        const ready = {
          ready: true,
          taskQueue,
          pid: process.pid,
          freshness,
          ...services.addresses,
        };
        io.out(
          values.json
            ? JSON.stringify(ready)
            : `worker ready: task queue ${taskQueue}, Temporal ${ready.temporal}, NATS ${ready.nats}${freshness ? ', metadata freshness hourly' : ''}`,
        );
        await signals.requested;
      } finally {
        await services.close();
      }
    } finally {
      signals.release();
    }
    log.info('stopped');
    return 0;
  },
};
