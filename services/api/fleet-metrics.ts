import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Client } from '@temporalio/client';
import { Gauge, Histogram, Registry } from 'prom-client';
import type { Clock } from '../../core/index.ts';
import {
  readProjections,
  watchProjections,
  type DeviceView,
  type LiveChange,
  type ProjectionBuckets,
  type RolloutView,
} from '../projections/index.ts';
import { TELEMETRY_STREAM, watchPresence, type OnlineCounts } from '../nats/index.ts';
import type { DevicesByPhase } from './live-routes.ts';

/** Phases a device update ends in: its duration is observed then. */
const ENDS = new Set(['committed', 'rolled_back', 'failed']);
/** Updates under way remembered at most, for their durations. */
const MAX_FOLLOWED = 200_000;
/** How long a scrape waits for Temporal to answer before it counts as not connected. */
const TEMPORAL_PROBE_MS = 2000;

/**
 * Prometheus metrics of the fleet, kept from the projections: read once,
 * then followed live (a scrape reads nothing, however large the fleet).
 * Aggregates only: no device or rollout id is a label.
 */
export class FleetMetrics {
  readonly registry = new Registry();
  readonly #rollouts = new Map<string, string>();
  readonly #devices = new Map<string, { phase: string; code?: string }>();
  /** When this process first saw each update under way, by workflow id: its duration as seen here. */
  readonly #started = new Map<string, number>();
  readonly #durations: Histogram;
  #stop: () => void = () => {};
  #presence: Awaited<ReturnType<typeof watchPresence>> | undefined;

  readonly #now: Clock;

  private constructor(nc: NatsConnection, bridgeConsumer: string, now: Clock, temporal?: Client) {
    this.#now = now;
    const registry = this.registry;
    const count = <T>(map: Map<string, T>, key: (value: T) => string | undefined) => {
      const counts = new Map<string, number>();
      for (const value of map.values()) {
        const k = key(value);
        if (k !== undefined) counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      return counts;
    };
    const rollouts = this.#rollouts;
    const devices = this.#devices;
    new Gauge({
      name: 'uproll_rollouts',
      help: 'Rollouts by status, from the rollout projection.',
      labelNames: ['status'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [status, n] of count(rollouts, (s) => s)) this.set({ status }, n);
      },
    });
    new Gauge({
      name: 'uproll_devices',
      help: "Devices by the phase of their latest update ('none': never updated).",
      labelNames: ['phase'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [phase, n] of count(devices, (d) => d.phase)) this.set({ phase }, n);
      },
    });
    new Gauge({
      name: 'uproll_devices_failed',
      help: 'Devices whose latest update failed or rolled back, by its error code.',
      labelNames: ['code'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [code, n] of count(devices, (d) => d.code)) this.set({ code }, n);
      },
    });
    this.#durations = new Histogram({
      name: 'uproll_device_update_seconds',
      help: 'Device updates seen under way here, from then to their end, by outcome.',
      labelNames: ['outcome'],
      buckets: [5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers: [registry],
    });
    new Gauge({
      name: 'uproll_telemetry_backlog',
      help: 'Telemetry stored in JetStream that the telemetry bridge has not handled yet.',
      registers: [registry],
      async collect() {
        const info = await (
          await jetstreamManager(nc)
        ).consumers
          .info(TELEMETRY_STREAM, bridgeConsumer)
          .catch(() => undefined);
        if (info) this.set(info.num_pending + info.num_ack_pending);
      },
    });
    const presence = () => this.online();
    new Gauge({
      name: 'uproll_devices_online',
      help: 'Devices heard of (a heartbeat) within the last five minutes.',
      registers: [registry],
      collect() {
        this.set(presence().online);
      },
    });
    new Gauge({
      name: 'uproll_devices_offline',
      help: 'Devices heard of before, but not within the last five minutes.',
      registers: [registry],
      collect() {
        this.set(presence().offline);
      },
    });
    if (temporal)
      new Gauge({
        name: 'uproll_temporal_connected',
        help: '1 while the Temporal frontend answers this process (within 2 s of a scrape).',
        registers: [registry],
        async collect() {
          const answered = await temporal.connection
            .withDeadline(now().getTime() + TEMPORAL_PROBE_MS, () =>
              temporal.workflowService.getSystemInfo({}),
            )
            .then(
              () => 1,
              () => 0,
            );
          this.set(answered);
        },
      });
    new Gauge({
      name: 'uproll_nats_connected',
      help: '1 while this process is connected to NATS.',
      registers: [registry],
      collect() {
        this.set(nc.isClosed() ? 0 : 1);
      },
    });
  }

  /** Reads the projections, then follows them until {@link stop}. */
  static async start(
    nc: NatsConnection,
    options: { now: Clock; temporal?: Client; buckets?: ProjectionBuckets; bridgeConsumer?: string },
  ): Promise<FleetMetrics> {
    const metrics = new FleetMetrics(
      nc,
      options.bridgeConsumer ?? 'telemetry-bridge',
      options.now,
      options.temporal,
    );
    // Follow first, then read: a change between the two is not lost (applying one twice is harmless).
    const watching = await watchProjections(
      nc,
      ['rollouts', 'devices'],
      (change) => metrics.#apply(change),
      options.buckets,
    );
    const presence = await watchPresence(nc);
    metrics.#presence = presence;
    metrics.#stop = () => {
      watching.stop();
      presence.stop();
    };
    const { rollouts, devices } = await readProjections(nc, options.buckets);
    for (const view of Object.values(rollouts)) metrics.#rollout(view);
    for (const view of Object.values(devices)) metrics.#device(view, false);
    return metrics;
  }

  /** Devices heard of within the last five minutes, and those heard of before. */
  online(): OnlineCounts {
    return this.#presence?.counts(this.#now().getTime()) ?? { online: 0, offline: 0 };
  }

  /** How many devices the projections know, and how many of them are in each phase ('none': never updated). */
  devicesByPhase(): DevicesByPhase {
    const phases: Record<string, number> = {};
    for (const { phase } of this.#devices.values()) phases[phase] = (phases[phase] ?? 0) + 1;
    return { devices: this.#devices.size, phases };
  }

  /** The metrics in Prometheus' text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  stop(): void {
    this.#stop();
  }

  #apply(change: LiveChange): void {
    if (change.kind === 'rollouts') this.#rollout(change.value as RolloutView);
    else if (change.kind === 'devices') this.#device(change.value as DeviceView, true);
  }

  #rollout(view: RolloutView): void {
    this.#rollouts.set(view.rolloutId, view.status);
  }

  #device(view: DeviceView, live: boolean): void {
    const phase = view.phase ?? 'none';
    const ended = ENDS.has(phase);
    this.#devices.set(view.deviceId, {
      phase,
      ...(ended && phase !== 'committed' && view.error ? { code: view.error.code } : {}),
    });
    if (!live || !view.workflowId) return;
    const at = Date.parse(view.updatedAt);
    const started = this.#started.get(view.workflowId);
    if (!ended) {
      if (started !== undefined) return;
      // Updates this process never sees end (another process's, before a restart) are forgotten in time.
      if (this.#started.size >= MAX_FOLLOWED) this.#started.delete(this.#started.keys().next().value!);
      this.#started.set(view.workflowId, at);
      return;
    }
    if (started !== undefined) {
      this.#durations.observe({ outcome: phase }, Math.max(0, (at - started) / 1000));
      this.#started.delete(view.workflowId);
    }
  }
}
