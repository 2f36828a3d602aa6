import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Subscription } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BootControlFile, OstreeSystemInstaller, type PhaseBoundary } from '../../agent/index.ts';
import type { Telemetry } from '../../core/index.ts';
import { ImageOstreeRepo } from '../../services/image-repo/index.ts';
import { DeviceCommands, onJson } from '../../services/nats/index.ts';
import { startAgentProcess, type AgentProcess } from '../helpers/agent-process.ts';
import { eventually } from '../helpers/eventually.ts';
import { createLoopMount, type LoopMount } from '../helpers/loop-sysroot.ts';
import { writeOsTree } from '../helpers/os-tree.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

// `uproll-agent --installer ostree --ostree-sysroot` killed with SIGKILL at each phase boundary:
// the sysroot always boots the deployment the boot control names, with its revision's files.
const RUNS = Number(process.env['UPROLL_CRASH_RUNS'] ?? 2);
const BOUNDARIES: PhaseBoundary[] = ['downloaded', 'verified', 'writing', 'switched', 'healthy'];
const OS = 'uproll';

let disk: LoopMount | undefined;
let h: Harness | undefined;
const motdOf = new Map<string, string>();
const agents = new Set<AgentProcess>();
const heard: Telemetry[] = [];
let telemetry: Subscription | undefined;

beforeAll(async () => {
  disk = await createLoopMount();
  h = await startHarness();
  const ostree = new ImageOstreeRepo(h.repos.image.dir);
  // Two revisions of the same release counter: runs alternate between them.
  for (const name of [uniqueId('os-a'), uniqueId('os-b')]) {
    const tree = join(h.repos.image.dir, '..', `tree-${name}`);
    await writeOsTree(tree, { motd: name });
    const commit = await ostree.commitTree(tree, { subject: name });
    await h.repos.publish(name, [], { ostree: { commit }, releaseCounter: 1 });
    motdOf.set(name, `${name}\n`);
  }
  telemetry = h.nc.subscribe('uproll.dev.*.telemetry', {
    // Other files publish what is not JSON here (forged telemetry): a callback that threw would stop the connection.
    callback: onJson<Telemetry>((telemetry) => heard.push(telemetry)),
  });
}, 120_000);
afterAll(async () => {
  for (const agent of agents) agent.child.kill('SIGKILL'); // nothing may stay inside the sysroots
  await Promise.all([...agents].map((agent) => agent.exited));
  telemetry?.unsubscribe();
  await h?.close();
  await disk?.remove();
});

/** `uproll-agent --installer ostree` on the sysroot, resolved once it is ready for commands. */
async function startAgent(bundle: string, dataDir: string, sysroot: string, crashAt?: PhaseBoundary) {
  const argv = ['--bundle', bundle, '--data-dir', dataDir, '--installer', 'ostree'];
  const agent = startAgentProcess([...argv, '--ostree-sysroot', sysroot, '--ostree-os', OS], {
    ...(crashAt ? { crashAt } : {}),
  });
  agents.add(agent);
  void agent.exited.finally(() => agents.delete(agent));
  return agent.ready();
}

/** The sysroot boots first what the boot control names, with that revision's files; returns it once committed. */
async function expectBootsActive(
  dataDir: string,
  installer: OstreeSystemInstaller,
): Promise<string | undefined> {
  const control = await new BootControlFile(dataDir).read();
  const first = (await installer.deployments())[0];
  if (!control.active) {
    expect(first).toBeUndefined();
    return undefined;
  }
  expect(first?.checksum).toBe(control.active.deployment);
  const motd = await readFile(
    join(installer.pathOf(control.active.deployment), 'usr', 'etc', 'motd'),
    'utf8',
  );
  expect(motd).toBe(motdOf.get(control.active.revision));
  return control.trial ? undefined : control.active.revision;
}

describe(`the agent on an OSTree sysroot killed with SIGKILL at every phase boundary, ${RUNS} times each`, () => {
  it.each(BOUNDARIES)(
    'after %s: the sysroot boots a whole revision the boot control names, and the update ends committed',
    async (boundary) => {
      const deviceId = uniqueId(`ocrash-${boundary}`);
      const sysroot = await disk!.sysroot(OS);
      const installer = new OstreeSystemInstaller({ sysroot, os: OS, remoteUrl: 'http://unused/' });
      const { credentials: seed } = await h!.provisionDevice(deviceId);
      const root = join(h!.repos.image.dir, '..', deviceId);
      const [bundle, dataDir] = [join(root, 'bundle'), join(root, 'data')];
      await h!.repos.enroll(deviceId, {
        nats: { servers: h!.addresses.nats, seed, tls: h!.natsTls },
        bundleDir: bundle,
      });
      const commands = new DeviceCommands(h!.nc, { timeoutMs: 10_000 });
      const names = [...motdOf.keys()];

      for (let run = 1; run <= RUNS; run++) {
        const target = names[run % 2]!;
        await h!.repos.assign(deviceId, target);
        const rolloutId = `${deviceId}-run-${run}`;

        const doomed = await startAgent(bundle, dataDir, sysroot, boundary);
        await commands.sendUpdateCommand(deviceId, { rolloutId, revision: target });
        expect((await doomed.exited).signal).toBe('SIGKILL');
        await expectBootsActive(dataDir, installer);

        const agent = await startAgent(bundle, dataDir, sysroot);
        await eventually(`${deviceId} to commit ${rolloutId}`, () =>
          heard.find((t) => t.deviceId === deviceId && t.rolloutId === rolloutId && t.phase === 'committed'),
        );
        await agent.stop();
        expect(await expectBootsActive(dataDir, installer)).toBe(target);
      }
    },
    300_000,
  );
});
