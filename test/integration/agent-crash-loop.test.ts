import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subscription } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BootControlFile, type PhaseBoundary } from '../../agent/index.ts';
import type { StateRevision, Telemetry } from '../../core/index.ts';
import { DeviceCommands, onJson } from '../../services/nats/index.ts';
import { startAgentProcess } from '../helpers/agent-process.ts';
import { randomArtifacts } from '../helpers/agent-rig.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';
import { eventually } from '../helpers/eventually.ts';

/**
 * Kills per phase boundary: 8 (each revision installed over the other 4 times) keeps the file
 * under a minute in `npm test`; `UPROLL_CRASH_RUNS` raises it for a longer soak.
 */
const RUNS = Number(process.env['UPROLL_CRASH_RUNS'] ?? 8);
const BOUNDARIES: PhaseBoundary[] = ['downloaded', 'verified', 'writing', 'switched', 'healthy'];

let h: Harness;
let workDir: string;
const revisions = new Map<string, StateRevision>();
const heard: Telemetry[] = [];
let telemetry: Subscription;

beforeAll(async () => {
  h = await startHarness();
  workDir = await mkdtemp(join(tmpdir(), 'uproll-crash-'));
  // Two revisions of three artifacts each, same release counter: runs alternate between them.
  for (const name of ['crash-a', 'crash-b']) {
    const { revision } = await h.repos.publish(name, randomArtifacts(3, 128 * 1024), { releaseCounter: 1 });
    revisions.set(name, revision);
  }
  telemetry = h.nc.subscribe('uproll.dev.*.telemetry', {
    // Other files publish what is not JSON here (forged telemetry): a callback that threw would stop the connection.
    callback: onJson<Telemetry>((telemetry) => heard.push(telemetry)),
  });
});
afterAll(async () => {
  telemetry?.unsubscribe();
  await h.close();
  await rm(workDir, { recursive: true, force: true });
});

/** `uproll-agent` on the device's bundle and data, resolved once it is ready for commands. */
function startAgent(bundle: string, dataDir: string, crashAt?: PhaseBoundary) {
  return startAgentProcess(['--bundle', bundle, '--data-dir', dataDir], crashAt ? { crashAt } : {}).ready();
}

/** The files of the deployment boot control points at are exactly its revision's. */
async function expectWholeDeployment(dataDir: string): Promise<string | undefined> {
  const control = await new BootControlFile(dataDir).read();
  if (!control.active) return undefined;
  const revision = revisions.get(control.active.revision)!;
  for (const artifact of revision.artifacts) {
    const bytes = await readFile(join(dataDir, 'slots', control.active.deployment, artifact.path));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(artifact.sha256);
  }
  return control.trial ? undefined : control.active.revision;
}

async function heardOutcome(deviceId: string, rolloutId: string): Promise<Telemetry> {
  return eventually(`the server to hear that ${deviceId} committed ${rolloutId}`, () =>
    heard.find((t) => t.deviceId === deviceId && t.rolloutId === rolloutId && t.phase === 'committed'),
  );
}

describe(`the agent killed with SIGKILL at every phase boundary, ${RUNS} times each`, () => {
  it.concurrent.each(BOUNDARIES)(
    'after %s: always comes back on a whole, committed revision, and the server learns the outcome',
    async (boundary) => {
      const deviceId = uniqueId(`crash-${boundary}`);
      const { credentials: seed } = await h.provisionDevice(deviceId);
      const bundle = join(workDir, deviceId, 'bundle');
      const dataDir = join(workDir, deviceId, 'data');
      await h.repos.enroll(deviceId, {
        nats: { servers: h.addresses.nats, seed, tls: h.natsTls },
        bundleDir: bundle,
      });
      const commands = new DeviceCommands(h.nc, { timeoutMs: 10_000 });
      let kills = 0;

      for (let run = 1; run <= RUNS; run++) {
        const target = run % 2 === 1 ? 'crash-a' : 'crash-b';
        await h.repos.assign(deviceId, target);
        const rolloutId = `${deviceId}-run-${run}`;

        const doomed = await startAgent(bundle, dataDir, boundary);
        await commands.sendUpdateCommand(deviceId, { rolloutId, revision: target });
        expect((await doomed.exited).signal).toBe('SIGKILL');
        kills += 1;
        await expectWholeDeployment(dataDir); // whatever runs now is never half-written

        const agent = await startAgent(bundle, dataDir);
        expect(await heardOutcome(deviceId, rolloutId)).toMatchObject({ revision: target });
        await agent.stop();
        expect(await expectWholeDeployment(dataDir)).toBe(target);
      }
      expect(kills).toBe(RUNS);
    },
    600_000,
  );
});
