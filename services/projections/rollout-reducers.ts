import { z } from 'zod';
import type { OutcomeCounts } from '../../core/index.ts';
import type { RolloutView } from './views.ts';

/**
 * What each rollout event (workflows/rollout.ts) does to the rollout's view.
 * Pure; a reducer returns undefined when the event's data does not have the
 * shape it expects, and the event then changes nothing.
 */
export type RolloutReducer = (view: RolloutView, data: unknown, at: string) => RolloutView | undefined;

const countsSchema = z.object({
  committed: z.int().min(0),
  rolledBack: z.int().min(0),
  failed: z.int().min(0),
});
const bySchema = z.object({ by: z.string().optional(), reason: z.string().optional() });

/** A reducer that runs only on data matching `schema`. */
function on<S extends z.ZodType>(
  schema: S,
  reduce: (view: RolloutView, data: z.infer<S>, at: string) => RolloutView,
): RolloutReducer {
  return (view, data, at) => {
    const parsed = schema.safeParse(data);
    return parsed.success ? reduce(view, parsed.data, at) : undefined;
  };
}

export function newRollout(rolloutId: string): RolloutView {
  return {
    rolloutId,
    status: 'running',
    waves: [],
    wavesFinished: 0,
    counts: { committed: 0, rolledBack: 0, failed: 0 },
    securityAlerts: [],
    updatedAt: '',
    lastSequence: 0,
  };
}

/** The counts (and devices skipped) a rollout reported when it ended. */
function withCounts(view: RolloutView, data: { counts?: OutcomeCounts; skipped?: number }): RolloutView {
  return {
    ...view,
    ...(data.counts ? { reportedCounts: data.counts } : {}),
    ...(data.skipped === undefined ? {} : { skipped: data.skipped }),
  };
}
const endSchema = z.object({ counts: countsSchema.optional(), skipped: z.int().min(0).optional() });

export const rolloutReducers: Readonly<Record<string, RolloutReducer>> = {
  'rollout.started': on(
    z.object({ by: z.string().optional(), revision: z.string(), waves: z.array(z.int().min(0)) }),
    (view, data, at) => ({
      ...view,
      status: 'running',
      revision: data.revision,
      waves: data.waves,
      startedAt: at,
      ...(data.by === undefined ? {} : { startedBy: data.by }),
    }),
  ),
  'rollout.wave.started': on(z.object({ wave: z.int().min(0) }), (view, data) => ({
    ...view,
    currentWave: data.wave,
  })),
  'rollout.wave.finished': on(z.object({ wave: z.int().min(0), counts: countsSchema }), (view, data) => ({
    ...view,
    wavesFinished: Math.max(view.wavesFinished, data.wave + 1),
    reportedCounts: data.counts,
  })),
  'rollout.gate.passed': on(z.object({ wave: z.int().min(0) }), (view, data) => ({
    ...view,
    lastGate: { wave: data.wave, passed: true },
  })),
  'rollout.gate.failed': on(
    z.object({ wave: z.int().min(0), reason: z.string().optional() }),
    (view, data) => ({
      ...view,
      lastGate: {
        wave: data.wave,
        passed: false,
        ...(data.reason === undefined ? {} : { reason: data.reason }),
      },
    }),
  ),
  'rollout.security.alert': on(
    z.object({ deviceId: z.string(), error: z.object({ code: z.string() }) }),
    (view, data) => ({
      ...view,
      securityAlerts: [...view.securityAlerts, { deviceId: data.deviceId, code: data.error.code }],
    }),
  ),
  'rollout.paused': on(bySchema, (view, data) => ({
    ...withoutKeys(view, 'pausedBy', 'pauseReason'),
    status: 'paused',
    ...(data.by === undefined ? {} : { pausedBy: data.by }),
    ...(data.reason === undefined ? {} : { pauseReason: data.reason }),
  })),
  'rollout.resumed': on(bySchema, (view, data) => ({
    ...withoutKeys(view, 'resumedBy'),
    status: 'running',
    ...(data.by === undefined ? {} : { resumedBy: data.by }),
  })),
  // Twice for one abort: once by whoever aborted (by, reason), once when the workflow ends (counts).
  'rollout.aborted': on(bySchema.extend(endSchema.shape), (view, data, at) =>
    withCounts(
      {
        ...view,
        status: 'aborted',
        endedAt: at,
        ...(data.by === undefined ? {} : { abortedBy: data.by }),
        ...(data.reason === undefined ? {} : { abortReason: data.reason }),
      },
      data,
    ),
  ),
  'rollout.policy.changed': on(z.object({ by: z.string().optional() }), (view, data) => ({
    ...view,
    ...(data.by === undefined ? {} : { policyChangedBy: data.by }),
  })),
  'rollout.devices.joined': on(z.object({ wave: z.int().min(0), devices: z.int().min(0) }), (view, data) => {
    const waves = [...view.waves];
    waves[data.wave] = data.devices;
    return { ...view, waves: Array.from(waves, (size) => size ?? 0) };
  }),
  'rollout.rolled_back': on(endSchema, (view, data, at) =>
    withCounts({ ...view, status: 'rolled_back', endedAt: at }, data),
  ),
  // The rollback after the end: the rollout ended before it began, its devices left its revision after.
  'rollout.rollback.started': on(z.object({ by: z.string() }), (view, data) => ({
    ...view,
    rolledBackBy: data.by,
  })),
  'rollout.rollback.finished': on(
    z.object({
      by: z.string(),
      counts: z.record(z.string(), z.int().min(0)),
      attempt: z.int().min(2).optional(),
    }),
    (view, data, at) => ({
      ...view,
      status: 'rolled_back',
      rolledBackBy: data.by,
      rolledBackAt: at,
      rollbackCounts:
        data.attempt && view.rollbackCounts ? afterRetry(view.rollbackCounts, data.counts) : data.counts,
    }),
  ),
  'rollout.completed': on(endSchema, (view, data, at) =>
    withCounts({ ...view, status: 'completed', endedAt: at }, data),
  ),
};

/**
 * A retry asked again the devices found busy or failed before: those it
 * returned or left alone join the ones before; busy and failed are its own.
 */
function afterRetry(before: Record<string, number>, retry: Record<string, number>): Record<string, number> {
  const n = (counts: Record<string, number>, key: string) => counts[key] ?? 0;
  return {
    rolled_back: n(before, 'rolled_back') + n(retry, 'rolled_back'),
    unchanged: n(before, 'unchanged') + n(retry, 'unchanged'),
    busy: n(retry, 'busy'),
    failed: n(retry, 'failed'),
  };
}

/** Forgets who paused or resumed before, so the view names the latest. */
function withoutKeys(view: RolloutView, ...keys: ('pausedBy' | 'pauseReason' | 'resumedBy')[]): RolloutView {
  const copy = { ...view };
  for (const key of keys) delete copy[key];
  return copy;
}
