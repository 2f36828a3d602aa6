import { describe, expect, inject, it } from 'vitest';
import { appStoryBlocker } from '../../cli/commands/demo-app-story.ts';
import { runCliInProcess } from '../helpers/cli-in-process.ts';

// The whole demo at its smallest fleet, on the run's stack: the three stories and the exit status.
describe('uproll demo', () => {
  it(
    'tells the fleet stories, then an app update to the gateways that restarts only that app',
    { timeout: 240_000 },
    async () => {
      const blocker = await appStoryBlocker();
      const { status, stdout, stderr } = await runCliInProcess([
        ...['demo', '--devices', '20', '--state-dir', inject('integration').stateDir],
      ]);
      expect(stderr).toBe('');
      expect(status).toBe(0);
      expect(stdout).toContain('rollout completed: 20 committed, 0 rolled back, 0 failed');
      if (blocker) {
        // Where containers cannot run, the app story is one line and the demo still succeeds.
        expect(stdout).toContain(`App story skipped: ${blocker}.`);
        return;
      }
      expect(stdout).toMatch(/no reboot, no OS write: 5 of 5 gateways still run OS slot a,/);
      expect(stdout).toMatch(/only web restarted: sensor's container ran on, untouched, on 5 of 5 gateways/);
      expect(stdout).toContain(
        'gateway-1: web now says "web 2.0: serving the gateway dashboard, now with charts"',
      );
      expect(stdout).toContain(
        '5 of 5 gateways rolled back by themselves with APP_UNHEALTHY; gateway-1\'s web 2.1 last said "web 2.1: cannot read /etc/web/tls.pem: no such file"',
      );
      expect(stdout).toContain('web 2.0 runs again on 5 of 5 gateways');
      expect(stdout).toMatch(/gw-1\.1 +5 devices .* apps: sensor 1\.0, web 2\.0/);
    },
  );
});
