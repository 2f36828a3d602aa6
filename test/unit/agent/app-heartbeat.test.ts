import { describe, expect, it } from 'vitest';
import { heartbeatAppsOf, type AppStatus } from '../../../agent/index.ts';

const stopped = (restart: string, exitCode: number | null): AppStatus => ({
  name: 'web',
  container: 'uproll-web-0123456789ab',
  state: 'exited',
  exitCode,
  restarts: 1,
  startedAt: '2026-12-01T13:53:01.123456789Z',
  restart,
});

describe('the apps a heartbeat shows', () => {
  it.each<[string, string, number | null, string]>([
    ['always', 'always', 0, 'restarting'],
    ['on-failure, after a crash', 'on-failure', 3, 'restarting'],
    ['on-failure, exit code unseen', 'on-failure', null, 'restarting'],
    ['on-failure, after a clean exit', 'on-failure', 0, 'exited'],
    ['no', 'no', 3, 'exited'],
  ])('a stopped app under %s shows as the supervisor will treat it', (_what, restart, code, state) => {
    expect(heartbeatAppsOf([stopped(restart, code)])).toEqual([
      {
        name: 'web',
        container: 'uproll-web-0123456789ab',
        state,
        exitCode: code,
        restarts: 1,
        startedAt: '2026-12-01T13:53:01.123456789Z',
      },
    ]);
  });

  it('keeps a running app as it is, without its restart policy', () => {
    const running = { ...stopped('always', null), state: 'running' as const };
    expect(heartbeatAppsOf([running])).toEqual([
      expect.objectContaining({ state: 'running', exitCode: null }),
    ]);
    expect(heartbeatAppsOf([running])[0]).not.toHaveProperty('restart');
  });
});
