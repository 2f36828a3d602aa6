import { once } from 'node:events';
import { installTemporalRuntime, TASK_QUEUE } from '../../services/temporal/index.ts';
import { startFleetServices } from '../fleet-services.ts';
import { stateDirOf, type Command } from '../command.ts';

export const worker: Command = {
  name: 'worker',
  summary: 'Run the rollout worker and the telemetry bridge on the local stack until stopped.',
  usage: 'uproll worker [--state-dir DIR] [--json]',
  details:
    'Prints one line (a JSON object with --json) once it polls the task queue. SIGINT or SIGTERM stop\n' +
    'it gracefully; a crash loses nothing: Temporal resumes every update on the next worker.',
  options: {},
  async run({ values }, io) {
    installTemporalRuntime();
    const services = await startFleetServices({
      stateDir: stateDirOf(values),
      onDropped: (reason) => io.err(`telemetry dropped: ${reason}`),
    });
    await services.startWorker();
    const ready = { ready: true, taskQueue: TASK_QUEUE, pid: process.pid, ...services.addresses };
    io.out(
      values.json
        ? JSON.stringify(ready)
        : `worker ready: task queue ${TASK_QUEUE}, Temporal ${ready.temporal}, NATS ${ready.nats}`,
    );
    await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
    await services.close();
    return 0;
  },
};
