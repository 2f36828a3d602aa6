import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../../agent/index.ts';
import { buildAgent, type AgentBuild } from '../../../release/agent/build.ts';
import { startSimulatedRepositories, type SimulatedRepositories } from '../../../sim/index.ts';
import { eventually } from '../../helpers/eventually.ts';

// The install is built outside the checkout, so nothing can come from its node_modules;
// plain Node runs it, with type stripping off.
const PLAIN_NODE = {
  ...process.env,
  UPROLL_NODE: process.execPath,
  NODE_OPTIONS: '--no-experimental-strip-types',
};

let root: string;
let built: AgentBuild;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'uproll-agent-build-'));
  built = await buildAgent(join(root, 'install'));
}, 60_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('npm run build:agent', () => {
  it('is one bundled file, a launcher and a package.json, with no Temporal in it', async () => {
    expect(Object.keys(built.files).sort()).toEqual(['package.json', 'uproll-agent', 'uproll-agent.mjs']);
    expect(await readFile(built.bundle, 'utf8')).not.toContain('@temporalio');
    const pkg = JSON.parse(await readFile(join(built.dir, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(pkg).toMatchObject({ name: 'uproll-agent', bin: { 'uproll-agent': 'uproll-agent' } });
    expect(pkg).not.toHaveProperty('dependencies');
  });

  it('prints its usage with --help', () => {
    const run = spawnSync(built.launcher, ['--help'], { env: PLAIN_NODE, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('uproll-agent --bundle DIR --data-dir DIR [options]');
  });

  describe('when started on a device bundle with --no-cloud', () => {
    let repos: SimulatedRepositories;
    let agent: ReturnType<typeof spawn>;
    let controlSocket: string;

    beforeAll(async () => {
      repos = await startSimulatedRepositories(join(root, 'repositories'));
      await repos.publish('1.0', [{ path: 'app/config.txt', bytes: Buffer.from('revision 1.0\n') }]);
      await repos.enroll('bundled-device', { bundleDir: join(root, 'bundle') });
      await repos.assign('bundled-device', '1.0');
      agent = spawn(
        built.launcher,
        ['--bundle', join(root, 'bundle'), '--data-dir', join(root, 'device'), '--no-cloud'],
        { env: PLAIN_NODE, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      const stderr: string[] = [];
      for await (const line of createInterface({ input: agent.stderr! })) {
        stderr.push(line);
        const ready = /^uproll-agent: bundled-device ready, control socket (.+)$/.exec(line);
        if (ready?.[1]) {
          controlSocket = ready[1];
          break;
        }
      }
      if (!controlSocket)
        throw new Error(`the bundled agent exited before it was ready:\n${stderr.join('\n')}`);
    }, 60_000);
    afterAll(async () => {
      if (agent.exitCode === null) {
        agent.kill('SIGKILL');
        await once(agent, 'exit');
      }
      await repos?.close();
    });

    it('answers on its control socket and installs the assigned revision', async () => {
      const control = new ControlClient(controlSocket);
      expect(await control.status()).toMatchObject({ installer: 'ab', running: null });
      expect(await control.update({ rolloutId: 'bundled-1', revision: '1.0' })).toMatchObject({
        accepted: true,
      });
      const entry = await eventually('the bundled agent to finish revision 1.0', async () =>
        (await control.history()).find((e) => e.rolloutId === 'bundled-1'),
      );
      expect(entry).toMatchObject({ revision: '1.0', outcome: 'committed' });
    });

    it('stops cleanly on SIGTERM', async () => {
      const exited = once(agent, 'exit');
      agent.kill('SIGTERM');
      expect(await exited).toEqual([0, null]);
    });
  });
});
