import { describe, expect, it } from 'vitest';
import { cpuMsPer, summarize, type RunPair } from '../../../bench/rollout/floor-ratio.ts';
import type { ProcessUsage } from '../../../bench/rollout/process-usage.ts';

/** Usage of the processes with these CPU seconds (the simulated devices' 0 unless given) and peak RSS (MiB). */
function usage(cpu: { worker: number; temporal: number; nats: number; devices?: number }, peakMb = 100) {
  const one = (cpuSeconds: number): ProcessUsage => ({
    pid: 1,
    peakRssKb: peakMb * 1024,
    peakSource: 'VmHWM',
    endRssKb: 0,
    cpuSeconds,
  });
  return {
    worker: one(cpu.worker),
    temporal: one(cpu.temporal),
    nats: one(cpu.nats),
    devices: one(cpu.devices ?? 0),
  };
}

/** A floor of 100 children and a rollout of 100 updates with these CPU seconds. */
function pair(
  floorCpu: { worker: number; temporal: number; nats: number },
  rolloutCpu: { worker: number; temporal: number; nats: number },
  peakMb = 100,
): RunPair {
  return {
    floor: {
      children: 100,
      maxInFlight: 50,
      completed: 100,
      seconds: 10,
      wallMsPerChild: 100,
      childrenPerSecond: 10,
      processes: usage(floorCpu),
      windowUs: [0, 1],
    },
    rollout: {
      maxInFlight: 50,
      committed: 100,
      sustainedPerSecond: 8,
      overallPerSecond: 7,
      processes: usage(rolloutCpu, peakMb),
    } as RunPair['rollout'],
  };
}

describe('a device update against the floor', () => {
  it('is CPU ms per unit of work, per process and for the whole stack', () => {
    expect(cpuMsPer(usage({ worker: 1, temporal: 2, nats: 0.5 }), 100)).toEqual({
      worker: 10,
      temporal: 20,
      nats: 5,
      devices: 0,
      total: 35,
    });
  });

  it("leaves the simulated devices' CPU out of the whole stack", () => {
    const perUpdate = cpuMsPer(usage({ worker: 1, temporal: 2, nats: 0.5, devices: 3 }), 100);
    expect(perUpdate.devices).toBe(30);
    expect(perUpdate.total).toBe(35);
  });

  describe('when several runs were made', () => {
    it('takes the median of the per-run ratios and the highest peak RSS', () => {
      const summary = summarize([
        pair({ worker: 1, temporal: 1, nats: 0 }, { worker: 2, temporal: 2, nats: 0 }, 100),
        pair({ worker: 1, temporal: 1, nats: 0 }, { worker: 4, temporal: 4, nats: 0 }, 300),
        pair({ worker: 2, temporal: 2, nats: 0 }, { worker: 3, temporal: 3, nats: 0 }, 200),
      ]);
      expect(summary.ratio.total).toBe(2); // ratios 2, 4, 1.5
      expect(summary.rollout.cpuMsPerUpdate.total).toBe(60); // 40, 80, 60 ms
      expect(summary.floor.cpuMsPerChild.total).toBe(20);
      expect(summary.rollout.peakRssKb.worker).toBe(300 * 1024);
      expect(summary.goalMet).toBe(false); // 2x, but 60 ms is over 40
    });
  });

  describe('when the update costs at most twice the floor and 40 ms', () => {
    it('meets the goal', () => {
      const summary = summarize([
        pair({ worker: 1, temporal: 1, nats: 0 }, { worker: 2, temporal: 2, nats: 0 }),
      ]);
      expect(summary.ratio.total).toBe(2);
      expect(summary.rollout.cpuMsPerUpdate.total).toBe(40);
      expect(summary.goalMet).toBe(true);
    });
  });
});
