/**
 * Temporal's per-workflow history and payload limits, as the server (1.32,
 * common/dynamicconfig/constants.go) defaults them: the event count and size
 * past which a workflow is terminated (`error`) or logged (`warn`), the point
 * where `continueAsNewSuggested` turns true (`suggestContinueAsNew`), and the
 * largest payload of one event (`limit.blobSize`).
 */
export const TEMPORAL_DEFAULT_LIMITS = {
  'limit.historyCount.error': 50 * 1024,
  'limit.historyCount.warn': 10 * 1024,
  'limit.historyCount.suggestContinueAsNew': 4 * 1024,
  'limit.historySize.error': 50 * 1024 * 1024,
  'limit.historySize.warn': 10 * 1024 * 1024,
  'limit.historySize.suggestContinueAsNew': 4 * 1024 * 1024,
  'limit.blobSize.error': 2 * 1024 * 1024,
  'limit.blobSize.warn': 512 * 1024,
} as const;

export type TemporalLimits = Record<keyof typeof TEMPORAL_DEFAULT_LIMITS, number>;

/**
 * Temporal's limits divided by `factor`, as dynamic config for a dev server
 * (`startLocalStack({ temporalDynamicConfig })`): a fleet `factor` times
 * smaller meets them as a full-size fleet meets the real ones.
 */
export function loweredTemporalLimits(factor: number): TemporalLimits {
  return Object.fromEntries(
    Object.entries(TEMPORAL_DEFAULT_LIMITS).map(([key, value]) => [key, Math.floor(value / factor)]),
  ) as TemporalLimits;
}
