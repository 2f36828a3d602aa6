import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appStoryBlocker } from '../../cli/commands/demo-app-story.ts';
import { findFreePort, startLocalStack, stopLocalStack } from '../../services/dev-stack/index.ts';
import { runCliInProcess } from '../helpers/cli-in-process.ts';

// The whole demo at its smallest fleet, on a stack of its own as after `uproll dev up` (on the
// suite's, its telemetry bridge would see the devices of the files running beside it): the three
// stories and the exit status.
let stateDir: string;
beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'uproll-demo-'));
  const ports = {
    temporal: await findFreePort(),
    nats: await findFreePort(),
    natsMonitor: await findFreePort(),
  };
  await startLocalStack({ stateDir, ports, clock: () => new Date() });
}, 120_000);
afterAll(async () => {
  await stopLocalStack(stateDir);
  await rm(stateDir, { recursive: true, force: true, maxRetries: 5 });
});

describe('uproll demo', () => {
  it(
    'tells the fleet stories, then an app update to the gateways that restarts only that app',
    { timeout: 240_000 },
    async () => {
      const blocker = await appStoryBlocker();
      const { status, stdout, stderr } = await runCliInProcess([
        ...['demo', '--devices', '20', '--state-dir', stateDir],
      ]);
      expect(stderr).toBe('');
      expect(status).toBe(0);
      expect(stdout).toContain('rollout completed: 20 committed, 0 rolled back, 0 failed');
      // Its dashboard, with a token to sign in, while the stories run.
      expect(stdout).toMatch(
        /^ {2}the dashboard, live: http:\/\/127\.0\.0\.1:\d+\/dashboard\/ \(sign in with/m,
      );
      expect(stdout).toMatch(/^ {2}eyJ[\w-]+\.[\w-]+\.[\w-]+$/m);
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
