export * from './tokens.ts';
export * from './server.ts';
export * from './routes.ts';
export * from './api-route.ts';
export * from './rollout-routes.ts';
export * from './live-routes.ts';
export { DASHBOARD_DIST } from './dashboard-files.ts';
export { FleetMetrics } from './fleet-metrics.ts';
export * from './event-routes.ts';
