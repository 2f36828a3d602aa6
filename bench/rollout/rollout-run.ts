// One timed rollout over the whole simulated fleet, and what it measured.
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { RolloutPolicyInput } from '../../core/index.ts';
import { EVENTS_STREAM, TELEMETRY_STREAM } from '../../services/nats/index.ts';
import { startRollout } from '../../services/temporal/index.ts';
import type { BenchStack } from './bench-stack.ts';
import { BridgeBacklog, type BacklogFigures } from './bridge-backlog.ts';
import { DeviceTimeline, percentile, STEPS, watchDeviceEvents, type Step } from './device-timeline.ts';
import type { FleetCounts } from './fleet-process.ts';
import { UsageMonitor, type ProcessUsage } from './process-usage.ts';

/** Share of the commits cut off at each end for the sustained rate (ramp-up, tail). */
const SUSTAINED_TRIM = 0.1;

export interface RolloutFigures {
  rolloutId: string;
  maxInFlight: number;
  policy: RolloutPolicyInput;
  status: string;
  committed: number;
  /** Devices committed per second between the 10% and the 90% commit. */
  sustainedPerSecond: number;
  /** Devices committed per second from the rollout's start to its result. */
  overallPerSecond: number;
  rolloutSeconds: number;
  assignToCommitMs: { p50: number; p99: number; max: number };
  /** Median and p99 of each step after the one before it, in ms. */
  steps: { from: Step; to: Step; p50: number; p99: number }[];
  /** Telemetry the bridge had yet to turn into signals, sampled each second. */
  bridgeBacklog: BacklogFigures;
  /** Telemetry or events the services dropped during the rollout (0 on a healthy run), with the first reason. */
  dropped: { count: number; first?: string };
  eventsWritten: number;
  telemetryWritten: number;
  fleet: FleetCounts;
  processes: Record<keyof BenchStack['pids'], ProcessUsage>;
  /** The other NATS nodes and rollout workers (`--nats-cluster`, `--workers`), apart: the floor has no match for them. */
  otherProcesses: Record<string, ProcessUsage>;
  /** When it ran, in µs of the monotonic clock (process.hrtime): the window of a --cpu-prof profile. */
  windowUs: [number, number];
}

/**
 * Publishes a new revision and rolls it out to every device of the stack
 * (canary 1%, then 10/50/100%, no soak, a gate that never stops it); the
 * clock runs from `startRollout` to the workflow's result. Gives up after
 * `timeoutMs`, terminating the rollout, and reports what it got so far.
 */
export async function runRollout(
  stack: BenchStack,
  options: { maxInFlight: number; timeoutMs: number; log: (line: string) => void },
): Promise<RolloutFigures> {
  const n = stack.devices.length;
  const rolloutId = `bench-${randomBytes(4).toString('hex')}`;
  const revision = `rev-${rolloutId}`;
  await stack.repos.publish(revision, [{ path: 'bench.bin', bytes: randomBytes(1024) }]);
  const policy: RolloutPolicyInput = {
    canary: Math.max(1, Math.ceil(n / 100)),
    waves: { percentages: [10, 50, 100] },
    maxInFlight: options.maxInFlight,
    gate: { minSample: n + 1, soakMs: 0 },
  };

  const timeline = new DeviceTimeline();
  stack.follow(timeline);
  const watcher = watchDeviceEvents(stack.services.nc, rolloutId, timeline);
  const counted = {
    events: await messagesIn(stack.services.nc, EVENTS_STREAM),
    telemetry: await messagesIn(stack.services.nc, TELEMETRY_STREAM),
  };
  const fleetBefore = await stack.fleet.counts();
  const droppedBefore = stack.dropped.count;
  const usage = new UsageMonitor(stack.pids);
  const otherUsage = new UsageMonitor(stack.otherPids);
  await usage.start();
  await otherUsage.start();
  const backlog = new BridgeBacklog(stack.services.nc, stack.bridgeConsumer);
  backlog.start();

  const startedUs = monotonicUs();
  const started = performance.now();
  const handle = await startRollout(stack.services.client, {
    rolloutId,
    revision,
    target: { devices: stack.devices },
    policy,
    startedBy: 'bench:rollout',
  });
  const ticker = setInterval(() => {
    const seconds = (performance.now() - started) / 1000;
    const committed = timeline.count('committed');
    options.log(
      `  ${seconds.toFixed(0).padStart(4)} s: ${committed}/${n} committed (${(committed / seconds).toFixed(1)}/s), ` +
        `${timeline.count('started') - committed} updating, bridge backlog ${backlog.latest}`,
    );
  }, 10_000);
  let timer: NodeJS.Timeout | undefined;
  let status: string;
  try {
    const result = await Promise.race([
      handle.result(),
      new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), options.timeoutMs))),
    ]);
    status = result?.status ?? `timed out after ${options.timeoutMs / 1000} s`;
    if (!result) await handle.terminate('bench:rollout time limit').catch(() => {});
  } finally {
    clearTimeout(timer);
    clearInterval(ticker);
  }
  const rolloutSeconds = (performance.now() - started) / 1000;
  const windowUs: [number, number] = [startedUs, monotonicUs()];
  const processes = await usage.stop();
  const otherProcesses = await otherUsage.stop();
  const bridgeBacklog = await backlog.stop();
  await stack.services.nc.flush();
  const fleetAfter = await stack.fleet.counts(); // its marks are in the timeline by then
  watcher.unsubscribe();
  stack.follow(undefined);

  const commits = timeline.times('committed');
  const lo = Math.floor(SUSTAINED_TRIM * (commits.length - 1));
  const hi = Math.ceil((1 - SUSTAINED_TRIM) * (commits.length - 1));
  const sustainedMs = (commits[hi] ?? 0) - (commits[lo] ?? 0);
  const assignToCommit = timeline.durations('assigning', 'committed');
  return {
    rolloutId,
    maxInFlight: options.maxInFlight,
    policy,
    status,
    committed: commits.length,
    sustainedPerSecond: sustainedMs > 0 ? (hi - lo) / (sustainedMs / 1000) : Number.NaN,
    overallPerSecond: commits.length / rolloutSeconds,
    rolloutSeconds,
    assignToCommitMs: {
      p50: percentile(assignToCommit, 50),
      p99: percentile(assignToCommit, 99),
      max: percentile(assignToCommit, 100),
    },
    steps: STEPS.slice(1).map((to, i) => {
      const durations = timeline.durations(STEPS[i] as Step, to);
      return { from: STEPS[i] as Step, to, p50: percentile(durations, 50), p99: percentile(durations, 99) };
    }),
    bridgeBacklog,
    dropped: {
      count: stack.dropped.count - droppedBefore,
      ...(stack.dropped.first ? { first: stack.dropped.first } : {}),
    },
    eventsWritten: (await messagesIn(stack.services.nc, EVENTS_STREAM)) - counted.events,
    telemetryWritten: (await messagesIn(stack.services.nc, TELEMETRY_STREAM)) - counted.telemetry,
    fleet: {
      commands: fleetAfter.commands - fleetBefore.commands,
      duplicates: fleetAfter.duplicates - fleetBefore.duplicates,
      rejected: fleetAfter.rejected - fleetBefore.rejected,
      reports: fleetAfter.reports - fleetBefore.reports,
      lost: fleetAfter.lost - fleetBefore.lost,
    },
    processes,
    otherProcesses,
    windowUs,
  };
}

/** Now on the clock a V8 CPU profile's timestamps use, in µs. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

async function messagesIn(nc: NatsConnection, stream: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(stream)).state.messages;
}
