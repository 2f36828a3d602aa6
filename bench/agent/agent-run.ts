// One run of the agent memory benchmark: fresh repositories, a fresh device,
// the agent as a child process; its idle RSS, then its RSS through a large update.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlClient, type HistoryEntry, type JournalEntry } from '../../agent/index.ts';
import type { Telemetry } from '../../core/index.ts';
import { startSimulatedRepositories, type SimulatedRepositories } from '../../sim/index.ts';
import { spawnAgent, spawnBareNode, type AgentLaunch } from './agent-process.ts';
import { IMAGE_INSTALL } from './image-release.ts';
import { medianRss, readRss, resetPeak, RssSampler, sleep } from './proc-rss.ts';

const SAMPLE_MS = 50;
const SETTLE_MS = 500;
const IDLE_MS = 2000;
const POLL_MS = 100;
const UPDATE_TIMEOUT_MS = 120_000;
const DEVICE = 'bench-device';

export interface RunFigures {
  /** RSS of `node -e 'setInterval(...)'` on the same Node, median over a second (KiB). */
  bareNodeKb: number;
  /** Spawn to the agent's "ready" line (s). */
  startSeconds: number;
  /** The agent's RSS after it committed the small revision, median over two seconds (KiB). */
  idleKb: number;
  /** The agent's peak RSS from the large update's command to its commit (KiB). */
  peakKb: number;
  /** How the peak was taken: VmHWM reset before the update (exact), or the highest 50 ms sample. */
  peakSource: 'VmHWM' | 'samples';
  /** The highest 50 ms VmRSS sample during the update, and how many samples there were. */
  sampledPeakKb: number;
  samples: number;
  /** RSS after the commit of the large update (KiB): what the agent keeps afterwards. */
  afterKb: number;
  /** RssAnon and RssFile right after the idle samples (KiB). */
  idleAnonKb: number;
  idleFileKb: number;
  /** Command to commit of the large update (s; with a bootloader, to the reboot it asks for), and its parts from the agent's telemetry. */
  updateSeconds: number;
  downloadSeconds: number | undefined;
  installSeconds: number | undefined;
}

/**
 * One run of the agent `launch` starts: idle RSS, then the update to `image`.
 * A temp dir, and the child processes of the run, removed and stopped whatever happens.
 */
export async function benchmarkRun(
  launch: AgentLaunch,
  image: Uint8Array,
  onTempDir: (dir: string) => void,
): Promise<RunFigures> {
  const root = await mkdtemp(join(tmpdir(), 'uproll-bench-agent-'));
  onTempDir(root);
  let repos: SimulatedRepositories | undefined;
  let agent: Awaited<ReturnType<typeof spawnAgent>> | undefined;
  try {
    repos = await startSimulatedRepositories(join(root, 'repositories'));
    await IMAGE_INSTALL.publishFirst(repos, '1.0', root);
    await IMAGE_INSTALL.publish(repos, '2.0', image);
    const bundleDir = join(root, 'bundle');
    await repos.enroll(DEVICE, { bundleDir });
    await repos.assign(DEVICE, '1.0');
    const device = await IMAGE_INSTALL.device?.(root, image.byteLength);

    const bareNodeKb = await bareNodeRss();

    const start = () =>
      spawnAgent({
        launch,
        bundleDir,
        dataDir: join(root, 'device'),
        installer: IMAGE_INSTALL.installer,
        ...(device ? { args: device.args } : {}),
      });
    const spawned = performance.now();
    agent = await start();
    const startSeconds = (performance.now() - spawned) / 1000;
    let control = new ControlClient(agent.controlSocket);
    let reboots = 0;
    /** Commands an update; resolves when it is installed (the reboot asked for, with a bootloader) or committed. */
    const install = async (rolloutId: string, revision: string) => {
      if (!device) return update(control, rolloutId, revision);
      await command(control, rolloutId, revision);
      await device.rebootAsked(++reboots);
      return undefined;
    };
    /** With a bootloader: the reboot (agent stopped, one boot), and the new agent's commit of the trial. */
    const finish = async (rolloutId: string, revision: string) => {
      if (!device) return;
      await agent!.stop();
      await device.boot();
      agent = await start();
      control = new ControlClient(agent.controlSocket);
      await committed(control, rolloutId, revision);
    };
    await install('bench-1', '1.0');
    await finish('bench-1', '1.0');
    await sleep(SETTLE_MS);
    const idleKb = await medianRss(agent.pid, IDLE_MS, SAMPLE_MS);
    const { anonKb: idleAnonKb, fileKb: idleFileKb } = await readRss(agent.pid);

    await repos.assign(DEVICE, '2.0');
    const exactPeak = await resetPeak(agent.pid);
    const sampler = new RssSampler(agent.pid, SAMPLE_MS);
    const started = Date.now();
    let entry: HistoryEntry | undefined;
    let samples: number[];
    try {
      entry = await install('bench-2', '2.0');
    } finally {
      samples = await sampler.stop();
    }
    const installedAt = Date.now();
    const { hwmKb, rssKb: afterKb } = await readRss(agent.pid);
    const sampledPeakKb = Math.max(...samples);
    await finish('bench-2', '2.0');
    const phases = await telemetryOf(control, 'bench-2');
    const at = (phase: string) => {
      const time = phases.find((t) => t.phase === phase)?.at;
      return time ? Date.parse(time) : undefined;
    };
    const downloaded = at('downloaded');
    const installed = at('installed');
    return {
      bareNodeKb,
      startSeconds,
      idleKb,
      peakKb: exactPeak ? Math.max(hwmKb, sampledPeakKb) : sampledPeakKb,
      peakSource: exactPeak ? 'VmHWM' : 'samples',
      sampledPeakKb,
      samples: samples.length,
      afterKb,
      idleAnonKb,
      idleFileKb,
      updateSeconds: ((entry ? Date.parse(entry.at) : installedAt) - started) / 1000,
      downloadSeconds: downloaded === undefined ? undefined : (downloaded - started) / 1000,
      installSeconds:
        downloaded === undefined || installed === undefined ? undefined : (installed - downloaded) / 1000,
    };
  } catch (err) {
    throw agent ? new Error(`${(err as Error).message}\n${agent.stderrTail()}`, { cause: err }) : err;
  } finally {
    await agent?.stop();
    await repos?.close();
    await rm(root, { recursive: true, force: true });
  }
}

/** Median RSS of a Node process that does nothing, after it started. */
async function bareNodeRss(): Promise<number> {
  const bare = spawnBareNode();
  try {
    await sleep(1000);
    return await medianRss(bare.pid, 1000, SAMPLE_MS);
  } finally {
    await bare.stop();
  }
}

/** Commands an update through the control socket and waits until the history records it committed. */
async function update(control: ControlClient, rolloutId: string, revision: string): Promise<HistoryEntry> {
  await command(control, rolloutId, revision);
  return committed(control, rolloutId, revision);
}

async function command(control: ControlClient, rolloutId: string, revision: string): Promise<void> {
  const reply = await control.update({ rolloutId, revision });
  if (!reply.accepted)
    throw new Error(`update ${revision} refused: ${reply.error.code}: ${reply.error.message}`);
}

/** Waits until the history records the update committed. */
async function committed(control: ControlClient, rolloutId: string, revision: string): Promise<HistoryEntry> {
  const deadline = Date.now() + UPDATE_TIMEOUT_MS;
  for (;;) {
    const entry = (await control.history()).find((e) => e.rolloutId === rolloutId);
    if (entry?.outcome === 'committed') return entry;
    if (entry)
      throw new Error(`update ${revision} ${entry.outcome}: ${entry.error?.code}: ${entry.error?.message}`);
    if (Date.now() > deadline)
      throw new Error(`update ${revision} did not finish in ${UPDATE_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
}

/** The agent's telemetry for one rollout, from its journal (read up to the rollout's commit). */
async function telemetryOf(control: ControlClient, rolloutId: string): Promise<Telemetry[]> {
  const found: Telemetry[] = [];
  const stream = control.events(0, (entry: JournalEntry) => {
    const telemetry = entry.body as Telemetry;
    if (entry.kind === 'telemetry' && telemetry.rolloutId === rolloutId) {
      found.push(telemetry);
      if (telemetry.phase === 'committed') stream.close();
    }
    return Promise.resolve();
  });
  const timer = setTimeout(() => stream.close(), 5000); // the phases are extras: never hang on them
  await stream.done.finally(() => clearTimeout(timer));
  return found;
}
