import { describe, expect, it } from 'vitest';
import { appStoryBlocker } from '../../../cli/commands/demo-app-story.ts';

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
