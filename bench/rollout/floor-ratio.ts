// A rollout's cost as a multiple of the floor measured in the same run, and
// the medians over several runs.
import { median } from '../stats.ts';
import type { BenchStack } from './bench-stack.ts';
import type { FloorFigures } from './floor-run.ts';
import type { ProcessUsage } from './process-usage.ts';
import type { RolloutFigures } from './rollout-run.ts';

/** Goal of issue 16: a device update costs at most this many times the floor's child ... */
export const GOAL_RATIO = 2;
/** ... and at most this much CPU on the whole stack. */
export const GOAL_CPU_MS = 40;

type ProcessName = keyof BenchStack['pids'];

/** The simulated fleet's process: its CPU is the devices' work, outside the stack measured. */
const DEVICES: ProcessName = 'devices';

/** CPU ms per unit of work (child, device update) of each process and of the stack (all but the devices). */
export type CpuMs = Record<ProcessName | 'total', number>;

/** One floor and the rollout measured right after it, with the same max in flight. */
export interface RunPair {
  floor: FloorFigures;
  rollout: RolloutFigures;
}

export interface RatioSummary {
  maxInFlight: number;
  runs: number;
  floor: { childrenPerSecond: number; wallMsPerChild: number; cpuMsPerChild: CpuMs };
  rollout: {
    sustainedPerSecond: number;
    overallPerSecond: number;
    cpuMsPerUpdate: CpuMs;
    /** Highest peak RSS of each process over the runs, in KiB. */
    peakRssKb: Record<ProcessName, number>;
  };
  /** Median over the runs of (CPU per update) / (CPU per floor child), per process and for all. */
  ratio: CpuMs;
  goalMet: boolean;
}

/** CPU time of each process and of the stack (all but the devices), in ms, per unit of `count`. */
export function cpuMsPer(processes: Record<ProcessName, ProcessUsage>, count: number): CpuMs {
  const out = { total: 0 } as CpuMs;
  for (const [name, usage] of Object.entries(processes) as [ProcessName, ProcessUsage][]) {
    out[name] = (1000 * usage.cpuSeconds) / Math.max(1, count);
    if (name !== DEVICES) out.total += out[name];
  }
  return out;
}

/** Medians of the runs of one max in flight (all pairs given have the same). */
export function summarize(pairs: readonly RunPair[]): RatioSummary {
  const first = pairs[0];
  if (!first) throw new Error('no runs to summarize');
  const floorCpu = pairs.map((p) => cpuMsPer(p.floor.processes, p.floor.completed));
  const updateCpu = pairs.map((p) => cpuMsPer(p.rollout.processes, p.rollout.committed));
  const names = Object.keys(first.rollout.processes) as ProcessName[];
  const medianOf = (rows: CpuMs[]): CpuMs => {
    const out = { total: median(rows.map((r) => r.total)) } as CpuMs;
    for (const name of names) out[name] = median(rows.map((r) => r[name]));
    return out;
  };
  const ratios = pairs.map((_, i) => {
    const out = {} as CpuMs;
    for (const key of [...names, 'total'] as const) out[key] = updateCpu[i]![key] / floorCpu[i]![key];
    return out;
  });
  const peakRssKb = {} as Record<ProcessName, number>;
  for (const name of names)
    peakRssKb[name] = Math.max(...pairs.map((p) => p.rollout.processes[name].peakRssKb));
  const ratio = medianOf(ratios);
  const cpuMsPerUpdate = medianOf(updateCpu);
  return {
    maxInFlight: first.rollout.maxInFlight,
    runs: pairs.length,
    floor: {
      childrenPerSecond: median(pairs.map((p) => p.floor.childrenPerSecond)),
      wallMsPerChild: median(pairs.map((p) => p.floor.wallMsPerChild)),
      cpuMsPerChild: medianOf(floorCpu),
    },
    rollout: {
      sustainedPerSecond: median(pairs.map((p) => p.rollout.sustainedPerSecond)),
      overallPerSecond: median(pairs.map((p) => p.rollout.overallPerSecond)),
      cpuMsPerUpdate,
      peakRssKb,
    },
    ratio,
    goalMet: ratio.total <= GOAL_RATIO && cpuMsPerUpdate.total <= GOAL_CPU_MS,
  };
}

/** The summary as the bench prints it, one line a figure. */
export function summaryLines(summary: RatioSummary): string[] {
  const label = (name: string) =>
    name === 'worker'
      ? 'worker process (services, worker)'
      : name === 'nats'
        ? 'nats-server'
        : name === DEVICES
          ? 'simulated devices (not the stack)'
          : name;
  const names = Object.keys(summary.rollout.peakRssKb) as ProcessName[];
  const { floor, rollout, ratio } = summary;
  const row = (left: string, right: string) => `  ${left.padEnd(48)}${right}`;
  return [
    `max in flight ${summary.maxInFlight}, median of ${summary.runs} run(s): device update against the floor`,
    row(
      'floor: children/s, wall per child',
      `${floor.childrenPerSecond.toFixed(1)}/s, ${floor.wallMsPerChild.toFixed(1)} ms`,
    ),
    row(
      'rollout: updates/s sustained / overall',
      `${rollout.sustainedPerSecond.toFixed(1)}/s / ${rollout.overallPerSecond.toFixed(1)}/s`,
    ),
    row('CPU ms per', 'update  floor child  ratio  peak RSS'),
    // The stack's processes, the whole stack, then the devices outside it.
    ...[
      ...names.filter((name) => name !== DEVICES),
      'total' as const,
      ...names.filter((name) => name === DEVICES),
    ].map((name) =>
      row(
        `  ${name === 'total' ? 'whole stack' : label(name)}`,
        `${rollout.cpuMsPerUpdate[name].toFixed(1).padStart(6)}  ` +
          (name === DEVICES
            ? `${'-'.padStart(11)}  ${'-'.padStart(6)}`
            : `${floor.cpuMsPerChild[name].toFixed(1).padStart(11)}  ${ratio[name].toFixed(2).padStart(5)}x`) +
          (name === 'total' ? '' : `  ${(rollout.peakRssKb[name] / 1024).toFixed(0).padStart(5)} MB`),
      ),
    ),
    row(
      `goal: <= ${GOAL_RATIO}x the floor and <= ${GOAL_CPU_MS} ms per update`,
      summary.goalMet ? 'met' : 'not met',
    ),
  ];
}
