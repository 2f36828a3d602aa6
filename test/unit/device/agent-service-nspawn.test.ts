import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulatedRepositories } from '../../../sim/index.ts';
import { AGENT_UNIT } from '../../helpers/systemd-unit.ts';
import {
  bootContainer,
  mountOverlayRoot,
  type BootedContainer,
  type OverlayRoot,
} from '../../helpers/nspawn-container.ts';

const REPO = new URL('../../../', import.meta.url).pathname.replace(/\/$/, '');
const FIXTURES = join(REPO, 'test/fixtures/agent-service');
/** How long the container may take to boot, run the scenario and power off before it is killed. */
const CONTAINER_BOUND_MS = 150_000;

let overlay: OverlayRoot | undefined;
let container: BootedContainer | undefined;
let scratch: string | undefined;
afterEach(async () => {
  await container?.kill();
  await overlay?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/**
 * The shipped unit, with the agent run from this checkout (`--config` is not in the agent yet),
 * and a watchdog of 4 s (abort after 3 more) so that a frozen agent is replaced within seconds.
 */
async function installAgentService(root: string): Promise<void> {
  const units = join(root, 'etc/systemd/system');
  await mkdir(join(units, 'uproll-agent.service.d'), { recursive: true });
  await copyFile(AGENT_UNIT, join(units, 'uproll-agent.service'));
  await writeFile(
    join(units, 'uproll-agent.service.d/checkout.conf'),
    [
      '[Service]',
      'ExecStart=',
      `ExecStart=${process.execPath} ${REPO}/bin/uproll-agent.js --bundle /etc/uproll/bundle --data-dir /var/lib/uproll --no-cloud`,
      'WatchdogSec=4',
      'TimeoutAbortSec=3',
      '',
    ].join('\n'),
  );
  for (const unit of ['uproll-test.target', 'uproll-test-report.service'])
    await copyFile(join(FIXTURES, unit), join(units, unit));
  await mkdir(join(root, 'etc/uproll-test'), { recursive: true });
  await copyFile(join(FIXTURES, 'report.sh'), join(root, 'etc/uproll-test/report.sh'));
  await writeFile(join(root, 'etc/fstab'), ''); // the host's mounts are not the container's
}

/** The container sees this checkout and this Node through the overlay of / only if they are on it. */
async function expectOnRootFilesystem(...paths: string[]): Promise<void> {
  const rootDevice = (await stat('/')).dev;
  for (const path of paths)
    if ((await stat(path)).dev !== rootDevice)
      throw new Error(`${path} is not on the root filesystem, so the container would not see it`);
}

/** `first ActiveState=active SubState=running MainPID=34 NRestarts=0` -> its name and settings. */
function parseReport(text: string) {
  const states = new Map<string, Record<string, string>>();
  const journal = { info: [] as string[], err: [] as string[] };
  for (const line of text.split('\n')) {
    const logged = /^journal-(info|err) (.*)$/.exec(line);
    if (logged) journal[logged[1] as 'info' | 'err'].push(logged[2]!);
    else if (line.includes('=')) {
      const [name, ...settings] = line.trim().split(' ');
      states.set(name!, Object.fromEntries(settings.map((s) => s.split('=', 2) as [string, string])));
    }
  }
  return { states, journal };
}

describe('uproll-agent.service under a real systemd (PID 1 in systemd-nspawn)', () => {
  it('is active once ready, pinged, and replaced by systemd when SIGKILLed or frozen; stops cleanly', async () => {
    await expectOnRootFilesystem(REPO, process.execPath);
    overlay = await mountOverlayRoot();
    scratch = await mkdtemp(join(tmpdir(), 'uproll-nspawn-repos-'));
    const repos = await startSimulatedRepositories(scratch);
    await repos.enroll('nspawn-dev', { bundleDir: join(overlay.root, 'etc/uproll/bundle') });
    await repos.close();
    await installAgentService(overlay.root);

    container = bootContainer(overlay.root, {
      target: 'uproll-test.target',
      binds: [`${overlay.report}:/uproll-report`],
    });
    let bound: NodeJS.Timeout | undefined;
    const exit = await Promise.race([
      container.exited,
      new Promise<string>((resolve) => {
        bound = setTimeout(
          () => resolve(`not powered off within ${CONTAINER_BOUND_MS} ms`),
          CONTAINER_BOUND_MS,
        );
      }),
    ]).finally(() => clearTimeout(bound));
    if (typeof exit === 'string') await container.kill(); // what it reported so far still tells why
    const report = await readFile(join(overlay.report, 'report.log'), 'utf8').catch(() => '');
    const { states, journal } = parseReport(report);
    const context = `report:\n${report}\nconsole (last lines):\n${container.output.slice(-30).join('\n')}`;
    const running = (restarts: number) => ({
      ActiveState: 'active',
      SubState: 'running',
      NRestarts: String(restarts),
    });
    const mainPid = (state: string) => Number(states.get(state)?.['MainPID']);

    // READY=1 made it active; a WATCHDOG=1 from systemd-notify (NotifyAccess=all) reached systemd.
    expect(states.get('first'), context).toMatchObject(running(0));
    expect(states.get('pinged'), context).toMatchObject(running(0));
    // SIGKILL: Restart=on-failure starts a new main process, which is ready again.
    expect(states.get('restarted'), context).toMatchObject(running(1));
    expect(mainPid('restarted')).not.toBe(mainPid('first'));
    // Frozen (SIGSTOP): no more pings, so the watchdog has it killed and started again.
    expect(states.get('watchdog-restarted'), context).toMatchObject(running(2));
    expect(mainPid('watchdog-restarted')).not.toBe(mainPid('restarted'));
    expect(journal.err, context).toContainEqual(expect.stringMatching(/Watchdog timeout/));
    // SIGTERM: STOPPING=1, the agent exits 0.
    expect(states.get('stopped'), context).toMatchObject({ ActiveState: 'inactive', Result: 'success' });
    // The journal read the <6> prefix as the priority, and the unit names the lines (no tag of its own).
    expect(journal.info, context).toContain('nspawn-dev ready, control socket /var/lib/uproll/control.sock');
    expect(exit, context).toEqual({ code: 0, signal: null });
  }, 240_000);
});
