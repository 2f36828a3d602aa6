// One more `uproll serve`, for tests and benchmarks, in a process of its own: the fleet services
// and a rollout worker on the local stack of a state directory, with the simulated repositories
// another process made. Its settings come as JSON in UPROLL_SIM_WORKER; it prints READY when it polls.
import { startFleetServices } from '../../cli/fleet-services.ts';
import { installTemporalRuntime } from '../../services/temporal/index.ts';
import { openSimulatedReleases } from '../../sim/repositories.ts';
import { WORKER_READY_LINE, type WorkerChildSettings } from './worker-process.ts';

const settings = JSON.parse(process.env['UPROLL_SIM_WORKER'] ?? '{}') as WorkerChildSettings;
installTemporalRuntime('ERROR');
const { director, releases } = openSimulatedReleases(settings.reposDir, settings.directorKeys);
const services = await startFleetServices({
  stateDir: settings.stateDir,
  workflowBundle: { codePath: settings.workflowBundlePath },
  releases,
  director,
  ...(settings.bridgeConsumer ? { bridgeConsumer: settings.bridgeConsumer } : {}),
});
await services.startWorker();
process.stdout.write(`${WORKER_READY_LINE}\n`);
process.once('SIGTERM', () => {
  void services.close().finally(() => process.exit(0));
});
