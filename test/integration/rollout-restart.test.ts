import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetServices } from '../../cli/fleet-services.ts';
import { startLocalStack, stopStackComponent } from '../../services/dev-stack/index.ts';
import { startRollout } from '../../services/temporal/index.ts';
import type { ProtocolFleet, SimulatedRepositories } from '../../sim/index.ts';
import { rolloutProgressQuery } from '../../workflows/contracts.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';
import { eventually } from '../helpers/eventually.ts';
import { startFleetOf } from '../helpers/protocol-fleet-rig.ts';
import { expectEachDeviceCommittedOnce, expectProjectionsEqualARebuild } from './rollout-checks.ts';
import { startOwnStack } from './own-stack.ts';

// This file restarts its own Temporal dev server and nats-server in the middle
// of a rollout: the run's shared ones stay up for the other files.
const FLEET = 120;

let own: Awaited<ReturnType<typeof startOwnStack>>;
let stateDir: string;
let repos: SimulatedRepositories;
let services: FleetServices;
let fleet: ProtocolFleet;
let devices: string[];

beforeAll(async () => {
  own = await startOwnStack('rollout-restart');
  ({ stateDir, repos, services } = own);
  ({ devices, fleet } = await startFleetOf({
    count: FLEET,
    prefix: 'rs',
    repos,
    stateDir,
    natsUrl: services.addresses.nats,
  }));
}, 120_000);
afterAll(async () => {
  await fleet?.stop();
  await own?.close();
});

async function restart(component: 'temporal' | 'nats'): Promise<void> {
  expect(await stopStackComponent(stateDir, component)).toBe(true);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await startLocalStack({ stateDir, clock: () => new Date() });
}

describe('a rollout whose Temporal dev server and nats-server restart in the middle', () => {
  it('finishes with every device updated exactly once, no event lost or repeated, projections equal to a rebuild', async () => {
    const revision = 'restart-2.0';
    await repos.publish(revision, randomArtifacts(1, 1024), { releaseCounter: 1 });
    const rolloutId = 'restarted';
    const handle = await startRollout(services.client, {
      rolloutId,
      revision,
      target: { devices },
      policy: { canary: 5, waves: { percentages: [50, 100] }, maxInFlight: 20 },
    });
    const committed = async () => (await handle.query(rolloutProgressQuery)).counts.committed;
    const reach = (count: number) =>
      eventually(`${count} devices committed`, async () => (await committed()) >= count, {
        timeoutMs: 120_000,
      });

    await reach(20);
    expect(await committed()).toBeLessThan(FLEET); // in the middle, truly
    await restart('temporal');
    await reach(60);
    expect(await committed()).toBeLessThan(FLEET);
    await restart('nats');
    const result = await handle.result();

    expect(result).toMatchObject({
      status: 'completed',
      counts: { committed: FLEET, rolledBack: 0, failed: 0 },
    });
    // A command whose answer was lost in a restart is sent again (at least once); the device
    // answers it as a duplicate and installs once: every device accepted exactly one command.
    expect(fleet.counts).toMatchObject({ rejected: 0, lost: 0 });
    expect(fleet.counts.commands - fleet.counts.duplicates).toBe(FLEET);
    await expectEachDeviceCommittedOnce(services.eventLog, devices, rolloutId);
    const rolloutEvents = (await services.eventLog.read('rollout', rolloutId)).map(({ event }) => event.type);
    const wave = ['rollout.wave.started', 'rollout.wave.finished', 'rollout.gate.passed'];
    expect(rolloutEvents).toEqual(['rollout.started', ...wave, ...wave, ...wave, 'rollout.completed']);

    await expectProjectionsEqualARebuild(services.nc, devices);
  }, 300_000);
});
