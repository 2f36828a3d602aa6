import { describe, expect, it } from 'vitest';
import { appStoryBlocker, storyStop } from '../../../cli/commands/demo-app-story.ts';

describe("the demo's app story on a machine that cannot run containers", () => {
  it('names what is missing in one line: root, runc, a static busybox', async () => {
    expect(await appStoryBlocker({ uid: 1000 })).toBe('containers need root, and the demo runs as uid 1000');
    expect(await appStoryBlocker({ uid: 0, runc: '/nonexistent/runc' })).toBe(
      '/nonexistent/runc is not installed (Debian package runc)',
    );
    expect(await appStoryBlocker({ uid: 0, runc: process.execPath, busybox: '/nonexistent/busybox' })).toBe(
      '/nonexistent/busybox is missing (Debian package busybox-static)',
    );
  });
});

describe('the app story after a step that did not end as it should', () => {
  it('stops there, saying how it ended and why on the first gateway', () => {
    expect(storyStop({ revision: 'gw-1.0', status: 'completed' }, 'completed')).toBeUndefined();
    expect(
      storyStop({ revision: 'gw-1.0', status: 'rolled_back' }, 'completed', {
        deviceId: 'gateway-1',
        code: 'APP_UNHEALTHY',
        message: 'app sensor did not reach its health goal (exit code 1); its last output:\nrunc run failed',
      }),
    ).toBe(
      'App story stopped: gw-1.0 ended rolled_back, not completed (gateway-1: APP_UNHEALTHY: app sensor did not reach its health goal (exit code 1); its last output:).',
    );
    expect(storyStop({ revision: 'gw-1.2', status: 'completed' }, 'rolled_back')).toBe(
      'App story stopped: gw-1.2 ended completed, not rolled_back.',
    );
  });
});
