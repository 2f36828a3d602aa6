import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { FleetServices } from '../../cli/fleet-services.ts';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startDeviceAgent, type DeviceAgent } from '../../agent/index.ts';
import {
  localStackStatus,
  provisionNatsDevice,
  serviceCredentials,
  startLocalStack,
  stopNatsNode,
} from '../../services/dev-stack/index.ts';
import {
  connectToNats,
  EVENTS_STREAM,
  PRESENCE_BUCKET,
  REPORTS_STREAM,
  TELEMETRY_STREAM,
} from '../../services/nats/index.ts';
import { PROJECTION_BUCKETS } from '../../services/projections/index.ts';
import { startRollout } from '../../services/temporal/index.ts';
import { deviceUpdateWorkflowId } from '../../core/index.ts';
import { localNatsTls } from '../../services/dev-stack/index.ts';
import { rolloutProgressQuery } from '../../workflows/contracts.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';
import { eventually } from '../helpers/eventually.ts';
import { startFleetOf } from '../helpers/protocol-fleet-rig.ts';
import type { ProtocolFleet, SimulatedRepositories } from '../../sim/index.ts';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.ts';
import { expectEachDeviceCommittedOnce, expectProjectionsEqualARebuild } from './rollout-checks.ts';
import { startOwnStack } from './own-stack.ts';

// Issue 20: Uproll on a three-node JetStream cluster (`dev up --nats-cluster 3`) of its own.
// Every stream and bucket keeps a copy on each node, so a node's crash in the
// middle of a wave loses nothing and repeats nothing.
const NODES = 3;
const FLEET = 300;

let own: Awaited<ReturnType<typeof startOwnStack>>;
let stateDir: string;
let repos: SimulatedRepositories;
let services: FleetServices;
let fleet: ProtocolFleet;
let devices: string[];
let otherWorker: WorkerProcess | undefined;
const agents: DeviceAgent[] = [];
/** A device with a real agent (the others are protocol-level), named to come last in the rollout. */
const AGENT_DEVICE = 'nc-zz-agent';
const AGENT_CLIENT = `uproll-agent ${AGENT_DEVICE}`;

beforeAll(async () => {
  own = await startOwnStack('nats-cluster', { natsCluster: NODES });
  ({ stateDir, repos, services } = own);
  ({ devices, fleet } = await startFleetOf({
    count: FLEET,
    prefix: 'nc',
    repos,
    stateDir,
    natsUrl: services.addresses.nats,
  }));
}, 180_000);
afterAll(async () => {
  for (const agent of agents) await agent.stop();
  await otherWorker?.kill();
  await fleet?.stop();
  await own?.close();
});

/** The index of the node that leads `stream` (nodes are named uproll-dev-<index>). */
async function leaderOf(stream: string): Promise<number> {
  const info = await (await jetstreamManager(services.nc)).streams.info(stream);
  const leader = info.cluster?.leader ?? '';
  expect(leader).toMatch(/^uproll-dev-\d$/);
  return Number(leader.slice('uproll-dev-'.length));
}

describe('Uproll on a three-node NATS JetStream cluster', () => {
  it('keeps every stream and bucket on all three nodes', async () => {
    const jsm = await jetstreamManager(services.nc);
    const names = [
      EVENTS_STREAM,
      TELEMETRY_STREAM,
      REPORTS_STREAM,
      `KV_${PRESENCE_BUCKET}`,
      `KV_${PROJECTION_BUCKETS.devices}`,
    ];
    for (const name of names) {
      const info = await jsm.streams.info(name);
      expect({ name, replicas: info.config.num_replicas }).toEqual({ name, replicas: NODES });
    }
  });

  it('reaches the cluster through any node of a comma-separated list, the first one down', async () => {
    const [first, ...others] = services.addresses.nats.split(',');
    const down = `${first!.split(':')[0]}:1`; // nothing listens on port 1
    const nc = await connectToNats({
      servers: [down, ...others].join(','),
      nkeySeed: await serviceCredentials(stateDir),
      name: 'comma-list',
      tls: await localNatsTls(stateDir),
      timeoutMs: 10_000,
    });
    try {
      expect(others.map((server) => server.trim())).toContain(nc.getServer());
    } finally {
      await nc.close();
    }
  });

  it("finishes a rollout whose event log's leader is SIGKILLed mid-wave: each device once, events exact, projections equal a rebuild; the agent on that node reconnects", async () => {
    // A real agent, given only the URL of the node about to die: it learns the others from the cluster.
    const killed = await leaderOf(EVENTS_STREAM);
    const agent = await startAgentOn(killed);
    agents.push(agent);
    expect(await eventually('the agent to connect', () => nodeOfClient(AGENT_CLIENT))).toBe(killed);

    const revision = 'cluster-2.0';
    await repos.publish(revision, randomArtifacts(1, 1024), { releaseCounter: 1 });
    const rolloutId = 'node-killed';
    const handle = await startRollout(services.client, {
      rolloutId,
      revision,
      // The agent last: its update runs after the node's loss.
      target: { devices: [...devices, AGENT_DEVICE] },
      policy: { canary: 5, waves: { percentages: [100] }, maxInFlight: 25 },
    });
    const committed = async () => (await handle.query(rolloutProgressQuery)).counts.committed;
    const reach = (count: number) =>
      eventually(`${count} devices committed`, async () => (await committed()) >= count, {
        timeoutMs: 180_000,
      });

    await reach(40);
    expect(await stopNatsNode(stateDir, killed, { kill: true })).toBe(true);
    expect(await committed()).toBeLessThan(FLEET); // in the middle of the wave, truly
    await eventually(
      'another node to lead the event log',
      async () => (await leaderOf(EVENTS_STREAM)) !== killed,
      {
        timeoutMs: 60_000,
      },
    );
    const reconnected = await eventually(
      'the agent to reconnect to another node',
      async () => {
        const node = await nodeOfClient(AGENT_CLIENT);
        return node !== undefined && node !== killed && { node };
      },
      { timeoutMs: 60_000 },
    );
    expect(reconnected.node).not.toBe(killed);
    await reach(150);
    await startLocalStack({ stateDir, clock: () => new Date() }); // the killed node comes back
    const result = await handle.result();
    await everyReplicaCurrent();

    expect(result).toMatchObject({
      status: 'completed',
      counts: { committed: FLEET + 1, rolledBack: 0, failed: 0 },
    });
    await expectEachDeviceUpdatedOnce(rolloutId, 1);
    // Every report of the agent's update arrived, over the node it reconnected to.
    await expectEachDeviceCommittedOnce(services.eventLog, [AGENT_DEVICE], rolloutId);
    await expectProjectionsEqualARebuild(services.nc, devices);
  }, 420_000);

  it('finishes a rollout on the other worker when one of two is SIGKILLed mid-wave, each device once', async () => {
    otherWorker = await startWorkerProcess({
      stateDir,
      reposDir: own.reposDir,
      directorKeys: repos.directorOnlineKeys(),
      workflowBundlePath: inject('integration').workflowBundlePath,
    });
    const revision = 'cluster-3.0';
    await repos.publish(revision, randomArtifacts(1, 1024), { releaseCounter: 2 });
    const rolloutId = 'worker-killed';
    const handle = await startRollout(services.client, {
      rolloutId,
      revision,
      target: { devices },
      policy: { canary: 5, waves: { percentages: [100] }, maxInFlight: 25 },
    });
    const { pid } = otherWorker;
    // The worker to kill has run device updates of this rollout: the crash takes work with it.
    await eventually(
      'the other worker to run device updates',
      async () => {
        for (const deviceId of devices.slice(0, 60))
          if (await updateRanOn(deviceUpdateWorkflowId(deviceId, rolloutId), pid)) return true;
        return false;
      },
      { timeoutMs: 180_000, intervalMs: 1000 },
    );
    await otherWorker.kill();
    expect((await handle.query(rolloutProgressQuery)).counts.committed).toBeLessThan(FLEET); // mid-wave, truly
    const result = await handle.result();

    expect(result).toMatchObject({
      status: 'completed',
      counts: { committed: FLEET, rolledBack: 0, failed: 0 },
    });
    await expectEachDeviceUpdatedOnce(rolloutId, 2);
    await expectProjectionsEqualARebuild(services.nc, devices);
  }, 420_000);
});

/** Starts the agent of AGENT_DEVICE, its bundle naming only node `index` of the cluster. */
async function startAgentOn(index: number): Promise<DeviceAgent> {
  const { credentials: seed } = await provisionNatsDevice(stateDir, AGENT_DEVICE, {
    clock: () => new Date(),
  });
  const node = (await localStackStatus(stateDir)).nats.nodes?.[index];
  expect(node?.running).toBe(true);
  const identity = await repos.enroll(AGENT_DEVICE, {
    nats: { servers: node!.address, seed, tls: await localNatsTls(stateDir) },
  });
  const dataDir = join(stateDir, 'agent');
  await mkdir(dataDir, { recursive: true });
  return startDeviceAgent({ identity, dataDir, clock: () => new Date() });
}

/**
 * Waits until every stream (and bucket) has its leader and every copy caught
 * up: a node started again replays what it missed, and until it has, a
 * second node's loss would leave some streams without a majority, and a read
 * served by its copy would miss what it has yet to replay.
 */
async function everyReplicaCurrent(): Promise<void> {
  const jsm = await jetstreamManager(services.nc);
  await eventually(
    'every copy of every stream to catch up',
    async () => {
      const lagging: string[] = [];
      for await (const info of jsm.streams.list()) {
        const replicas = info.cluster?.replicas ?? [];
        if (!info.cluster?.leader || replicas.length !== NODES - 1 || replicas.some((peer) => !peer.current))
          lagging.push(info.config.name);
      }
      return lagging.length === 0;
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
}

/** The index of the node a client of this name is connected to (from each node's /connz), if any. */
async function nodeOfClient(name: string): Promise<number | undefined> {
  const { nats } = await localStackStatus(stateDir);
  for (const [i, node] of (nats.nodes ?? []).entries()) {
    if (!node.running) continue;
    const response = await fetch(`${node.monitor}/connz?limit=1024`).catch(() => undefined);
    const connz = (await response?.json().catch(() => undefined)) as
      { connections?: { name?: string }[] } | undefined;
    if (connz?.connections?.some((connection) => connection.name === name)) return i;
  }
  return undefined;
}

/** Whether a workflow task of this workflow was completed by the worker of process `pid`. */
async function updateRanOn(workflowId: string, pid: number): Promise<boolean> {
  const history = await services.client.workflow
    .getHandle(workflowId)
    .fetchHistory()
    .catch(() => undefined);
  return (history?.events ?? []).some((event) =>
    event.workflowTaskCompletedEventAttributes?.identity?.startsWith(`${pid}@`),
  );
}

/**
 * Every device accepted one update command per rollout (a command whose answer
 * was lost is sent again and answered as a duplicate), each device's update of
 * this rollout is in the event log once, in order, and its waves once.
 */
async function expectEachDeviceUpdatedOnce(rolloutId: string, rolloutsSoFar: number): Promise<void> {
  expect(fleet.counts).toMatchObject({ rejected: 0, lost: 0 });
  expect(fleet.counts.commands - fleet.counts.duplicates).toBe(FLEET * rolloutsSoFar);
  await expectEachDeviceCommittedOnce(services.eventLog, devices, rolloutId);
  const rolloutEvents = (await services.eventLog.read('rollout', rolloutId)).map(({ event }) => event.type);
  const wave = ['rollout.wave.started', 'rollout.wave.finished', 'rollout.gate.passed'];
  expect(rolloutEvents).toEqual(['rollout.started', ...wave, ...wave, 'rollout.completed']);
}
