import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { startFleetServices } from '../../cli/fleet-services.ts';
import {
  findFreeClusterPorts,
  findFreePort,
  startLocalStack,
  stopLocalStack,
  type StartStackOptions,
} from '../../services/dev-stack/index.ts';
import { installTemporalRuntime } from '../../services/temporal/index.ts';
import { startSimulatedRepositories } from '../../sim/index.ts';

/**
 * A Temporal dev server and a nats-server of the file's own (fresh state
 * directory, free loopback ports), for a file that restarts them or
 * changes their limits: the run's shared ones stay as they are for the
 * other files. With the simulated repositories and the services, the
 * rollout worker polling. `close` stops and removes all of it.
 */
export async function startOwnStack(
  name: string,
  options: Pick<StartStackOptions, 'temporalDynamicConfig'> & {
    /** A local JetStream cluster of this many nodes, on free ports, instead of one nats-server. */
    natsCluster?: number;
    /** false: no telemetry bridge (the test signals device updates itself). */
    bridge?: false;
  } = {},
) {
  installTemporalRuntime('ERROR');
  const stateDir = await mkdtemp(join(tmpdir(), `uproll-${name}-`));
  const closers: (() => Promise<unknown>)[] = [
    () => rm(stateDir, { recursive: true, force: true }),
    () => stopLocalStack(stateDir),
  ];
  const close = async () => {
    for (const closer of closers.splice(0).reverse()) await closer();
  };
  try {
    await startLocalStack({
      clock: () => new Date(),
      stateDir,
      ports: {
        temporal: await findFreePort(),
        nats: await findFreePort(),
        natsMonitor: await findFreePort(),
      },
      ...(options.temporalDynamicConfig ? { temporalDynamicConfig: options.temporalDynamicConfig } : {}),
      ...(options.natsCluster ? { natsCluster: await findFreeClusterPorts(options.natsCluster) } : {}),
    });
    const repos = await startSimulatedRepositories(join(stateDir, 'repositories'));
    closers.push(() => repos.close());
    const services = await startFleetServices({
      stateDir,
      workflowBundle: { codePath: inject('integration').workflowBundlePath },
      releases: repos.releases,
      director: repos.director,
      ...(options.bridge === false ? { bridge: false } : {}),
    });
    closers.push(() => services.close());
    await services.startWorker();
    return { stateDir, reposDir: join(stateDir, 'repositories'), repos, services, close };
  } catch (err) {
    await close().catch(() => {}); // the cause of the failure matters, not that of the cleanup
    throw err;
  }
}
