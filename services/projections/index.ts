export * from './views.ts';
export {
  applyChange,
  foldEvents,
  project,
  touchedKeys,
  type ProjectionChange,
  type TouchedKeys,
} from './reducers.ts';
export { auditLine, formatAuditLine, type AuditLine } from './audit-trail.ts';
export { ALL_EVENTS, lastEventSequence, readEvents, type ReadEventsOptions } from './event-reader.ts';
export {
  FLEET_KEY,
  PROJECTION_BUCKETS,
  ensureProjectionBuckets,
  openProjectionBucket,
  ProjectionStore,
  readDeviceView,
  readDeviceViews,
  readFleetView,
  readProjections,
  readRolloutViews,
  type ProjectionBuckets,
} from './kv-store.ts';
export { DEFAULT_PROJECTOR, startProjector, type Projector, type ProjectorOptions } from './projector.ts';
export { rebuildProjections, type RebuildResult } from './rebuild.ts';
export { readRolloutCommits } from './rollout-commits.ts';
export { MAX_COMMITS_PAGE, ROLLOUT_COMMITS_BUCKET, RolloutCommitPages } from './rollout-commit-pages.ts';
export { rolloutListRows, type RolloutListRow } from './rollout-rows.ts';
export { watchProjections, type LiveChange } from './live-views.ts';
export {
  nextRollback,
  rollbackAfterEndOf,
  type RollbackAfterEnd,
  type RollbackAttempt,
  withRollbackAfterEnd,
} from './rollback-after-end.ts';
