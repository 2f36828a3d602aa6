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

/** The shipped unit, with the agent run from this checkout (`--config` is not in the agent yet). */
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
  const journal: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('journal-info ')) journal.push(line.slice('journal-info '.length));
    else if (line.includes('=')) {
      const [name, ...settings] = line.trim().split(' ');
      states.set(name!, Object.fromEntries(settings.map((s) => s.split('=', 2) as [string, string])));
    }
  }
  return { states, journal };
}

describe('uproll-agent.service under a real systemd (PID 1 in systemd-nspawn)', () => {
  it('is active once the agent is ready, and after its main process is SIGKILLed systemd starts a new one', async () => {
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
      new Promise<never>((_, reject) => {
        bound = setTimeout(
          () => reject(new Error(`the container did not power off within ${CONTAINER_BOUND_MS} ms`)),
          CONTAINER_BOUND_MS,
        );
      }),
    ]).finally(() => clearTimeout(bound));
    const report = await readFile(join(overlay.report, 'report.log'), 'utf8').catch(() => '');
    const { states, journal } = parseReport(report);
    const context = `report:\n${report}\nconsole (last lines):\n${container.output.slice(-30).join('\n')}`;

    expect(states.get('first'), context).toMatchObject({
      ActiveState: 'active',
      SubState: 'running',
      NRestarts: '0',
    });
    const first = Number(states.get('first')?.['MainPID']);
    expect(first).toBeGreaterThan(0);
    expect(states.get('restarted'), context).toMatchObject({
      ActiveState: 'active',
      SubState: 'running',
      NRestarts: '1',
    });
    const second = Number(states.get('restarted')?.['MainPID']);
    expect(second).toBeGreaterThan(0);
    expect(second).not.toBe(first);
    // The journal read the <6> prefix as the priority, and the unit names the lines (no tag of its own).
    expect(journal, context).toContain('nspawn-dev ready, control socket /var/lib/uproll/control.sock');
    expect(exit, context).toEqual({ code: 0, signal: null });
  }, 240_000);
});
