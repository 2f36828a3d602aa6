// When each device of a benchmark rollout reached each step, in ms of this process's clock.
import type { NatsConnection, Subscription } from '@nats-io/transport-node';

/** The steps of one device update, in order, as the benchmark sees them. */
export const STEPS = ['started', 'assigning', 'assigned', 'commanded', 'reported', 'committed'] as const;
export type Step = (typeof STEPS)[number];

/** What each step is, for the printed split. */
export const STEP_SOURCES: Record<Step, string> = {
  started: 'device.update.started event published',
  assigning: 'Director assign called',
  assigned: 'Director assign returned',
  commanded: 'device answered the update command',
  reported: 'device stored its committed telemetry',
  committed: 'device.update.committed event published',
};

/** The first time each device reached each step (a retried step keeps its first time). */
export class DeviceTimeline {
  readonly #at = new Map<string, Partial<Record<Step, number>>>();

  mark(deviceId: string, step: Step, at = performance.now()): void {
    let steps = this.#at.get(deviceId);
    if (!steps) this.#at.set(deviceId, (steps = {}));
    steps[step] ??= at;
  }

  count(step: Step): number {
    let n = 0;
    for (const steps of this.#at.values()) if (steps[step] !== undefined) n += 1;
    return n;
  }

  /** `to - from` in ms for every device that reached both. */
  durations(from: Step, to: Step): number[] {
    const out: number[] = [];
    for (const steps of this.#at.values()) {
      const a = steps[from];
      const b = steps[to];
      if (a !== undefined && b !== undefined) out.push(b - a);
    }
    return out;
  }

  /** When each device reached `step`, ascending. */
  times(step: Step): number[] {
    const out: number[] = [];
    for (const steps of this.#at.values()) {
      const at = steps[step];
      if (at !== undefined) out.push(at);
    }
    return out.sort((a, b) => a - b);
  }
}

/**
 * Watches the device events the workflows append to the event log for one
 * rollout (a plain subscription on the stream's subjects: it sees each
 * publish as it happens) and marks `started` and `committed` on the timeline.
 */
export function watchDeviceEvents(
  nc: NatsConnection,
  rolloutId: string,
  timeline: DeviceTimeline,
): Subscription {
  const decoder = new TextDecoder();
  const ofRollout = `"rolloutId":"${rolloutId}"`;
  return nc.subscribe('uproll.evt.device.*', {
    callback: (err, msg) => {
      if (err) return;
      const deviceId = msg.subject.split('.')[3] ?? '';
      // Type and rollout are all we need: a substring test, so the watcher costs little CPU.
      const text = decoder.decode(msg.data);
      if (!text.includes(ofRollout)) return;
      if (text.includes('"type":"device.update.committed"')) timeline.mark(deviceId, 'committed');
      else if (text.includes('"type":"device.update.started"')) timeline.mark(deviceId, 'started');
    },
  });
}

/** Nearest-rank percentile (p in 0..100) of a list; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? Number.NaN;
}
