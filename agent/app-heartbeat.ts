import { MAX_HEARTBEAT_APPS, type HeartbeatApp } from '../core/index.ts';
import type { AppStatus } from './apps/index.ts';

/**
 * The apps of a heartbeat from the supervisor's status: a stopped container
 * its restart policy brings back shows as `restarting` (the supervisor
 * starts it at its next round), one it leaves stopped as `exited`.
 */
export function heartbeatAppsOf(apps: readonly AppStatus[]): HeartbeatApp[] {
  return apps.slice(0, MAX_HEARTBEAT_APPS).map((app) => ({
    name: app.name,
    container: app.container,
    state: app.state === 'exited' && restartsAgain(app) ? 'restarting' : app.state,
    exitCode: app.exitCode,
    restarts: app.restarts,
    startedAt: app.startedAt,
  }));
}

/** The same rule as AppSupervisor.superviseOnce: `always`, or `on-failure` unless it exited 0. */
function restartsAgain(app: AppStatus): boolean {
  return app.restart === 'always' || (app.restart === 'on-failure' && app.exitCode !== 0);
}
