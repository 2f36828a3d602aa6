// npm run bench:rollout — rollout throughput: device updates per second and
// per-device latency through the real Temporal + NATS path, with a simulated
// fleet of instantly healthy devices. Prints figures, never fails on them.
import { rmSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stopLocalStack } from '../../services/dev-stack/index.ts';
import { startBenchStack, type BenchStack } from './bench-stack.ts';
import { STEP_SOURCES } from './device-timeline.ts';
import { cpuMsPer, summarize, summaryLines, type RunPair } from './floor-ratio.ts';
import { bundleFloorWorkflows, runFloor } from './floor-run.ts';
import { runRollout, type RolloutFigures } from './rollout-run.ts';

const TARGET_PER_SECOND = 50;
const TARGET_DEVICES = 10_000;
/** The floor's parent keeps every child in one history (no continue-as-new): a few events each. */
const MAX_FLOOR_CHILDREN = 5000;

const USAGE = `npm run bench:rollout -- [options]

Starts its own Temporal dev server and nats-server on free ports of 127.0.0.1
(temporary state directory, removed afterwards), an Image repository and a
Director (keys in memory), enrolls the devices with the Director (before the
clock starts), and runs the services (telemetry bridge, projector, Director
report listener, rollout worker) in this process. The fleet is simulated at the
protocol level, in a process of its own, over one NATS connection: each device accepts the update
command and at once stores the telemetry of a healthy update (downloaded,
verified, installed, healthy, committed), then its signed version report, in
JetStream.
Then, per --max-in-flight value, it publishes a revision and rolls it out to
every device (canary 1%, waves 10/50/100%, no soak, a gate that never stops it),
timing from startRollout to the rollout's result. Prints: sustained device
updates per second (between the 10% and the 90% commit), p50/p99 per device
from the Director assignment to the committed event, events written to the
event log, peak RSS (VmHWM) and CPU time of this process (worker, bridge, projector,
Director), the Temporal dev server, nats-server and the simulated devices, and
the stack's CPU time per device update (what bounds throughput on few cores;
the devices' own work is shown apart, outside the stack).
Target of the issue: at least ${TARGET_PER_SECOND} device updates/s at ${TARGET_DEVICES} devices.

Before each rollout it measures the floor on the same stack: the cheapest
per-device Temporal work, a parent workflow running --floor-children children
(the same max in flight) that each start, take one signal sent from this
process (as the telemetry bridge sends telemetry) and complete, on a worker of
their own with the rollout worker's options. It prints the CPU per device
update of each process and of the whole stack as a ratio to the CPU per floor
child (goal: at most 2x and 40 ms), as medians over --runs runs.

Options:
  --devices N              devices in the fleet (default 1000)
  --max-in-flight N[,N…]   devices updating at once; several values run one rollout
                           each on the same stack (default 500)
  --timeout-minutes N      give up on a rollout after this long (default 20)
  --runs N                 floor + rollout this many times per max in flight; medians (default 1)
  --floor-children N       children of the floor (default: the devices, at most 5000)
  --nats-cluster N         a local JetStream cluster of N nodes (3 or 5), streams and buckets
                           with N copies, instead of one nats-server
  --workers N              rollout workers sharing the task queue: this process's and N-1 in
                           processes of their own, each with the telemetry bridge, projector and
                           report listener (default 1). The floor runs on this process's only,
                           the other processes' CPU is printed apart, and p50/p99 from the
                           assignment counts only the devices this process assigned
  --json                   print the figures as JSON
  --help                   this text`;

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '1000' },
    'max-in-flight': { type: 'string', default: '500' },
    'timeout-minutes': { type: 'string', default: '20' },
    runs: { type: 'string', default: '1' },
    'floor-children': { type: 'string' },
    'nats-cluster': { type: 'string' },
    workers: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const deviceCount = Number(values.devices);
const maxInFlights = values['max-in-flight'].split(',').map(Number);
const timeoutMinutes = Number(values['timeout-minutes']);
const runCount = Number(values.runs);
const floorChildren = Number(values['floor-children'] ?? Math.min(deviceCount, MAX_FLOOR_CHILDREN));
const natsCluster = values['nats-cluster'] === undefined ? undefined : Number(values['nats-cluster']);
const workerCount = Number(values.workers);
if (
  (natsCluster !== undefined && natsCluster !== 3 && natsCluster !== 5) ||
  !Number.isInteger(workerCount) ||
  workerCount < 1 ||
  workerCount > 8 ||
  !Number.isInteger(deviceCount) ||
  deviceCount < 1 ||
  deviceCount > 100_000 ||
  !maxInFlights.every((m) => Number.isInteger(m) && m >= 1 && m <= 10_000) ||
  !(timeoutMinutes > 0) ||
  !Number.isInteger(runCount) ||
  runCount < 1 ||
  !Number.isInteger(floorChildren) ||
  floorChildren < 1 ||
  floorChildren > MAX_FLOOR_CHILDREN
) {
  console.error(
    `--devices is 1..100000, --max-in-flight whole numbers 1..10000, --timeout-minutes above 0, ` +
      `--runs 1 or more, --floor-children 1..${MAX_FLOOR_CHILDREN}, --nats-cluster 3 or 5, --workers 1..8\n\n${USAGE}`,
  );
  process.exit(2);
}
const command = ['npm run bench:rollout --', ...process.argv.slice(2)].join(' ');
const log = (line: string) => console.error(line);

// The servers run detached: an interrupt must stop them (and remove the state) here.
let tempDir: string | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    const dir = tempDir;
    void (dir ? stopLocalStack(join(dir, 'stack')) : Promise.resolve())
      .catch(() => {})
      .finally(() => {
        if (dir) rmSync(dir, { recursive: true, force: true });
        process.exit(130);
      });
  });
}

let stack: BenchStack | undefined;
const runs: RolloutFigures[] = [];
const pairs: RunPair[] = [];
/** Load averages (1, 5, 15 min) when each floor started: the machine is shared. */
const loads: number[][] = [];
try {
  log(
    `bench:rollout: ${deviceCount} devices, max in flight ${maxInFlights.join(', ')}, ${runCount} run(s), ` +
      `${natsCluster ? `${natsCluster}-node NATS cluster` : 'one nats-server'}, ${workerCount} worker(s)`,
  );
  const floorBundle = bundleFloorWorkflows();
  stack = await startBenchStack({
    deviceCount,
    onTempDir: (dir) => (tempDir = dir),
    log,
    ...(natsCluster ? { natsCluster } : {}),
    workers: workerCount,
  });
  log(
    `local stack up in ${stack.setup.stackSeconds.toFixed(1)} s; ${deviceCount} devices enrolled in ` +
      `${stack.setup.enrollSeconds.toFixed(1)} s`,
  );
  const timeoutMs = timeoutMinutes * 60_000;
  for (let run = 1; run <= runCount; run++) {
    for (const maxInFlight of maxInFlights) {
      loads.push(loadavg());
      log(`run ${run}: floor of ${floorChildren} children, max in flight ${maxInFlight}`);
      const floor = await runFloor(stack, {
        bundle: await floorBundle,
        children: floorChildren,
        maxInFlight,
        timeoutMs,
      });
      log(`run ${run}: rollout to ${deviceCount} devices, max in flight ${maxInFlight}`);
      const rollout = await runRollout(stack, { maxInFlight, timeoutMs, log });
      runs.push(rollout);
      pairs.push({ floor, rollout });
    }
  }
} catch (err) {
  console.error(`bench:rollout: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
} finally {
  await stack?.close();
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
}
if (runs.length === 0 || !stack) process.exit(process.exitCode ?? 1);

const best = runs.reduce((a, b) => (b.sustainedPerSecond > a.sustainedPerSecond ? b : a));
const setup = {
  stackSeconds: stack.setup.stackSeconds,
  enrollSeconds: stack.setup.enrollSeconds,
  enrollPerSecond: deviceCount / stack.setup.enrollSeconds,
};
if (values.json) {
  console.log(
    JSON.stringify(
      {
        command,
        devices: deviceCount,
        node: process.version,
        cpus: availableParallelism(),
        natsNodes: natsCluster ?? 1,
        workers: workerCount,
        target: { perSecond: TARGET_PER_SECOND, devices: TARGET_DEVICES },
        setup,
        best: { maxInFlight: best.maxInFlight, ratioToTarget: best.sustainedPerSecond / TARGET_PER_SECOND },
        runs: runs.map((run) => ({ ...run, cpuMsPerUpdate: cpuMsPer(run.processes, run.committed).total })),
        floors: pairs.map((pair) => pair.floor),
        loadAverages: loads,
        againstFloor: summaries(),
      },
      null,
      2,
    ),
  );
} else {
  const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
  const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(0)} ms` : '-');
  const row = (label: string, value: string) => console.log(`  ${label.padEnd(48)}${value}`);
  console.log(
    `Rollout throughput: ${deviceCount} simulated devices (protocol-level fleet, instant health, no soak); ` +
      `Node ${process.version}, ${availableParallelism()} CPUs`,
  );
  console.log(`  command: ${command}`);
  row(
    'setup (untimed): Director enrollment',
    `${setup.enrollSeconds.toFixed(1)} s (${setup.enrollPerSecond.toFixed(0)} devices/s)`,
  );
  for (const run of runs) {
    console.log(`max in flight ${run.maxInFlight}: ${run.status}, ${run.committed}/${deviceCount} committed`);
    row('sustained device updates/s (10%..90% commit)', run.sustainedPerSecond.toFixed(1));
    row(
      'overall device updates/s (start to result)',
      `${run.overallPerSecond.toFixed(1)} (${run.rolloutSeconds.toFixed(1)} s)`,
    );
    row(
      'assignment -> commit per device p50 / p99 / max',
      `${ms(run.assignToCommitMs.p50)} / ${ms(run.assignToCommitMs.p99)} / ${ms(run.assignToCommitMs.max)}`,
    );
    for (const step of run.steps)
      row(`  -> ${STEP_SOURCES[step.to]}`, `p50 ${ms(step.p50)}, p99 ${ms(step.p99)}`);
    row(
      'telemetry bridge backlog median / max',
      `${run.bridgeBacklog.median} / ${run.bridgeBacklog.max} messages`,
    );
    row(
      'events written to the event log',
      `${run.eventsWritten} (${(run.eventsWritten / deviceCount).toFixed(2)} per device)`,
    );
    row('telemetry messages stored', String(run.telemetryWritten));
    if (run.dropped.count > 0)
      row('dropped by the services', `${run.dropped.count} (first: ${run.dropped.first ?? '?'})`);
    for (const [name, usage] of Object.entries(run.processes)) {
      const label =
        name === 'worker'
          ? 'worker (this process)'
          : name === 'nats'
            ? 'nats-server'
            : name === 'devices'
              ? 'simulated devices'
              : name;
      row(
        `${label}: peak RSS (${usage.peakSource}), CPU`,
        `${mb(usage.peakRssKb)}, ${usage.cpuSeconds.toFixed(1)} s (${((100 * usage.cpuSeconds) / run.rolloutSeconds).toFixed(0)}% of a core)`,
      );
    }
    for (const [name, usage] of Object.entries(run.otherProcesses))
      row(
        `${name} (outside the floor ratio): peak RSS, CPU`,
        `${mb(usage.peakRssKb)}, ${usage.cpuSeconds.toFixed(1)} s (${((100 * usage.cpuSeconds) / run.rolloutSeconds).toFixed(0)}% of a core)`,
      );
    const cpuMs = cpuMsPer(run.processes, run.committed).total;
    const otherCpuMs =
      (1000 * Object.values(run.otherProcesses).reduce((sum, usage) => sum + usage.cpuSeconds, 0)) /
      Math.max(1, run.committed);
    if (otherCpuMs > 0)
      row('CPU per device update, other nodes and workers too', `${(cpuMs + otherCpuMs).toFixed(0)} ms`);
    row(
      'CPU per device update (the stack, not the devices)',
      `${cpuMs.toFixed(0)} ms: ${availableParallelism()} CPUs cap this at ~${((availableParallelism() * 1000) / cpuMs).toFixed(0)}/s`,
    );
  }
  console.log(
    `best: max in flight ${best.maxInFlight}, ${best.sustainedPerSecond.toFixed(1)} updates/s = ` +
      `${(best.sustainedPerSecond / TARGET_PER_SECOND).toFixed(2)} x the ${TARGET_PER_SECOND}/s target ` +
      `(target stated at ${TARGET_DEVICES} devices; this run: ${deviceCount})`,
  );
  console.log(
    `load average (1/5/15 min) at each floor's start: ${loads.map((l) => l.map((v) => v.toFixed(1)).join('/')).join(', ')}`,
  );
  for (const summary of summaries()) for (const line of summaryLines(summary)) console.log(line);
}

/** The runs against their floors, one summary per max in flight. */
function summaries() {
  return maxInFlights
    .map((maxInFlight) => pairs.filter((pair) => pair.rollout.maxInFlight === maxInFlight))
    .filter((runsOfOne) => runsOfOne.length > 0)
    .map(summarize);
}
