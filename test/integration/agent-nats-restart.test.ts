import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeviceAgent, type DeviceAgent } from '../../agent/index.ts';
import type { Heartbeat, Telemetry } from '../../core/index.ts';
import {
  findFreePort,
  provisionNatsDevice,
  requireSettings,
  serviceCredentials,
  stackAddresses,
  startLocalStack,
  stopLocalStack,
  localNatsTls,
} from '../../services/dev-stack/index.ts';
import {
  connectToNats,
  DeviceCommands,
  ensureStreams,
  onJson,
  REPORTS_STREAM,
  TELEMETRY_STREAM,
} from '../../services/nats/index.ts';
import { startSimulatedRepositories, type SimulatedRepositories } from '../../sim/index.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';
import { startCountingProxy } from '../helpers/counting-proxy.ts';
import { eventually } from '../helpers/eventually.ts';
import { storedMessages } from '../helpers/stored-messages.ts';

// This file restarts its own nats-server: the run's shared one stays up for the other files.
let stateDir: string;
let repos: SimulatedRepositories;
let proxy: Awaited<ReturnType<typeof startCountingProxy>>;
let service: NatsConnection;
let agent: DeviceAgent;
const deviceId = 'restart-dev';

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'uproll-nats-restart-'));
  await startLocalStack({
    clock: () => new Date(),
    stateDir,
    natsOnly: true,
    ports: { nats: await findFreePort(), natsMonitor: await findFreePort(), temporal: await findFreePort() },
  });
  const natsUrl = stackAddresses(await requireSettings(stateDir)).nats;
  service = await connectToNats({
    servers: natsUrl,
    tls: await localNatsTls(stateDir),
    nkeySeed: await serviceCredentials(stateDir),
    name: 'test',
  });
  await ensureStreams(service);
  repos = await startSimulatedRepositories(join(stateDir, 'repositories'));
  proxy = await startCountingProxy(repos.imageServer.url);
  const { credentials: seed } = await provisionNatsDevice(stateDir, deviceId, { clock: () => new Date() });
  const enrolled = await repos.enroll(deviceId, {
    nats: { servers: natsUrl, seed, tls: await localNatsTls(stateDir) },
  });
  agent = await startDeviceAgent({
    identity: {
      ...enrolled,
      repositories: { ...enrolled.repositories, imageTargetsUrl: `${proxy.url}/targets/` },
    },
    dataDir: join(stateDir, 'device'),
    clock: () => new Date(),
    heartbeatMs: 200,
  });
});
afterAll(async () => {
  await agent?.stop();
  await service?.close();
  await proxy?.close();
  await repos?.close();
  await stopLocalStack(stateDir);
  await rm(stateDir, { recursive: true, force: true });
});

const stored = (stream: string, subject: string) => storedMessages(service, stream, subject);

describe('an agent whose NATS server restarts in the middle of an update', () => {
  it('keeps its reports on disk while NATS is down and delivers them once each, in order, after', async () => {
    await repos.publish('1.0', randomArtifacts(3));
    await repos.assign(deviceId, '1.0');
    const gate = proxy.hold();
    await new DeviceCommands(service).sendUpdateCommand(deviceId, {
      rolloutId: 'nats-restart',
      revision: '1.0',
    });
    await gate.requested; // downloading: NATS goes away now

    await stopLocalStack(stateDir);
    gate.release();
    await agent.updates.idle(); // the update ends while NATS is down
    const undelivered = await agent.updates.journal.after(await agent.updates.journal.acked());
    expect(undelivered.map((e) => e.kind)).toEqual([...Array<string>(5).fill('telemetry'), 'manifest']);
    await sleep(1500); // the cloud client retries meanwhile, and must not duplicate anything

    await startLocalStack({ stateDir, natsOnly: true, clock: () => new Date() });
    await eventually('the journal to drain', async () => (await agent.updates.journal.after(0)).length === 0);

    const subject = `uproll.dev.${deviceId}.telemetry`;
    const telemetry = (await stored(TELEMETRY_STREAM, subject)) as Telemetry[];
    expect(telemetry.map((t) => t.phase)).toEqual([
      'downloaded',
      'verified',
      'installed',
      'healthy',
      'committed',
    ]);
    const manifests = await stored(REPORTS_STREAM, `uproll.dev.${deviceId}.report`);
    expect(manifests).toHaveLength(1);
  });

  it('answers commands again once NATS is back', async () => {
    await repos.publish('1.1', randomArtifacts(1));
    await repos.assign(deviceId, '1.1');
    await eventually('the agent to answer', () =>
      new DeviceCommands(service)
        .sendUpdateCommand(deviceId, { rolloutId: 'after-restart', revision: '1.1' })
        .then(() => true),
    );
    await agent.updates.idle();
    expect((await agent.updates.boot.read()).active).toMatchObject({ revision: '1.1' });
  });

  it('says it is alive every heartbeat, with what it runs and how far a download is', async () => {
    const beats: Heartbeat[] = [];
    const subscription = service.subscribe(`uproll.dev.${deviceId}.heartbeat`, {
      callback: onJson<Heartbeat>((beat) => beats.push(beat)),
    });
    try {
      await repos.publish('1.2', randomArtifacts(1, 1024 * 1024));
      await repos.assign(deviceId, '1.2');
      proxy.faults.bytesPerSecond = 512 * 1024; // two seconds of download: several heartbeats
      await new DeviceCommands(service).sendUpdateCommand(deviceId, { rolloutId: 'slow', revision: '1.2' });
      await agent.updates.idle();
      delete proxy.faults.bytesPerSecond;
      await eventually('a heartbeat after the update', () => beats.at(-1)?.revision === '1.2');
      const during = beats.filter((beat) => beat.progress?.rolloutId === 'slow');
      expect(during.length).toBeGreaterThan(0);
      expect(during.every((beat) => beat.running === 'slow' && beat.revision === '1.1')).toBe(true);
      expect(during.at(-1)!.progress!.percent).toBeGreaterThan(during[0]!.progress!.percent);
    } finally {
      subscription.unsubscribe();
    }
  });
});
