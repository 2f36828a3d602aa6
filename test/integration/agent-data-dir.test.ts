import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentProcess } from '../helpers/agent-process.ts';
import { startHarness, uniqueId, type Harness } from './harness.ts';

let h: Harness;
let workDir: string;

beforeAll(async () => {
  h = await startHarness();
  workDir = await mkdtemp(join(tmpdir(), 'uproll-data-dir-'));
});
afterAll(async () => {
  await h.close();
  await rm(workDir, { recursive: true, force: true });
});

/** Mode of the data directory and of everything in the agent's state under it (a folder's path ends in `/`). */
async function modes(dataDir: string, under = ''): Promise<Record<string, number>> {
  const found: Record<string, number> = under ? {} : { '/': (await stat(dataDir)).mode & 0o777 };
  for (const entry of await readdir(join(dataDir, under), { withFileTypes: true })) {
    const path = under ? `${under}/${entry.name}` : entry.name;
    if (entry.isSocket()) continue;
    if (!entry.isDirectory()) found[path] = (await stat(join(dataDir, path))).mode & 0o777;
    else
      Object.assign(
        found,
        { [`${path}/`]: (await stat(join(dataDir, path))).mode & 0o777 },
        await modes(dataDir, path),
      );
  }
  return found;
}

describe('the data directory of a real agent process', () => {
  it("is closed to a device's other local users at start, even as an older agent left it (0755, files 0644)", async () => {
    const deviceId = uniqueId('data-dir');
    const { credentials: seed } = await h.provisionDevice(deviceId);
    const bundle = join(workDir, deviceId, 'bundle');
    const dataDir = join(workDir, deviceId, 'data');
    await h.repos.enroll(deviceId, {
      nats: { servers: h.addresses.nats, seed, tls: h.natsTls },
      bundleDir: bundle,
    });

    // As an older agent left it: the directory 0755, its state open to every local user.
    await mkdir(join(dataDir, 'reports'), { recursive: true, mode: 0o755 });
    await writeFile(join(dataDir, 'history.json'), '[]\n', { mode: 0o644 });
    await chmod(dataDir, 0o755);

    const agent = await startAgentProcess(['--bundle', bundle, '--data-dir', dataDir]).ready();
    const now = await modes(dataDir);
    await agent.stop();
    expect(Object.keys(now)).toEqual(expect.arrayContaining(['/', 'history.json', 'reports/']));
    expect(now).toEqual(
      Object.fromEntries(Object.keys(now).map((p) => [p, p.endsWith('/') ? 0o700 : 0o600])),
    );
  });
});
