import { chmod, readFile, readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_BOOT_ATTEMPTS } from '../../../agent/index.ts';
import { verifyDeviceManifest } from '../../../core/uptane/index.ts';
import { randomArtifacts, shellCheck, startAgentRig, type AgentRig } from '../../helpers/agent-rig.ts';
import { eventually } from '../../helpers/eventually.ts';

let rig: AgentRig;
afterEach(() => rig?.close());

const phasesOf = (telemetry: { phase: string }[]) => telemetry.map((t) => t.phase);

/** A revision with a script its health check runs: the script must arrive executable. */
const withScript = () => [
  ...randomArtifacts(1),
  { path: 'bin/check.sh', bytes: Buffer.from('#!/bin/sh\nexit 0\n'), executable: true },
];
const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

describe('an update the Director assigns', () => {
  beforeEach(async () => {
    rig = await startAgentRig({ healthCheck: shellCheck('test -s part-0.bin') });
  });

  it('is verified, written whole into the other slot, switched to and committed', async () => {
    const artifacts = randomArtifacts(3);
    await rig.release('1.0', artifacts);
    const { reply, telemetry } = await rig.update('1.0');
    expect(reply).toEqual({ accepted: true, duplicate: false });
    expect(phasesOf(telemetry)).toEqual(['downloaded', 'verified', 'installed', 'healthy', 'committed']);
    const control = await rig.manager.boot.read();
    expect(control).toMatchObject({ active: { revision: '1.0', deployment: 'a' }, trial: false });
    for (const { path, bytes } of artifacts)
      expect(await readFile(join(rig.manager.installer.pathOf('a'), path))).toEqual(bytes);
  });

  it('installs an executable artifact with mode 0755 and the others 0644, so a health check can run it', async () => {
    await rig.release('1.0', withScript(), { health: { command: ['sh', '-c', './bin/check.sh'] } });
    expect((await rig.update('1.0')).telemetry.at(-1)).toMatchObject({ phase: 'committed' });
    const slot = rig.manager.installer.pathOf('a');
    expect(await modeOf(join(slot, 'bin', 'check.sh'))).toBe(0o755);
    expect(await modeOf(join(slot, 'part-0.bin'))).toBe(0o644);
  });

  it('sends the Director a signed manifest naming what it runs', async () => {
    const { target } = await rig.release('1.0', randomArtifacts(1));
    await rig.update('1.0');
    const manifests = (await rig.manager.journal.after(0)).filter((e) => e.kind === 'manifest');
    expect(manifests).toHaveLength(1);
    const manifest = verifyDeviceManifest(Buffer.from(JSON.stringify(manifests[0]?.body)), {
      deviceKey: rig.identity.deviceKey.publicKey,
      ecuKeys: { [`${rig.deviceId}-primary`]: rig.identity.deviceKey.publicKey },
    });
    const report = manifest.ecuVersionReports[`${rig.deviceId}-primary`]?.signed;
    expect(report).toMatchObject({ installedImage: { filepath: target }, attacksDetected: '' });
    expect(manifest.trustedRoots).toEqual({ image: 1, director: 1 });
  });

  it('downloads only the objects it does not hold: 1 changed artifact of 5 costs that artifact', async () => {
    const artifacts = randomArtifacts(5, 64 * 1024);
    await rig.release('1.0', artifacts);
    await rig.update('1.0');
    expect(rig.proxy.stats.objectBytes).toBe(5 * 64 * 1024);

    rig.proxy.reset();
    const changed = randomArtifacts(1, 64 * 1024)[0]!;
    await rig.release('1.1', [...artifacts.slice(0, 4), { path: 'part-4.bin', bytes: changed.bytes }]);
    const { telemetry } = await rig.update('1.1');
    expect(phasesOf(telemetry)).toEqual(['downloaded', 'verified', 'installed', 'healthy', 'committed']);
    expect(rig.proxy.stats.objectBytes).toBe(64 * 1024);
    expect(rig.proxy.stats.objectRequests).toHaveLength(1);
    expect(telemetry[0]).toMatchObject({ bytes: 64 * 1024 });
    expect(await readFile(join(rig.manager.installer.pathOf('b'), 'part-4.bin'))).toEqual(changed.bytes);
  });

  it('resumes a download the network broke off with a Range request, fetching nothing twice', async () => {
    const artifact = randomArtifacts(1, 256 * 1024);
    await rig.release('1.0', artifact);
    // The cut comes once the device has written the first 100,000 bytes: what it holds then is known.
    let written!: () => void;
    Object.assign(rig.proxy.faults, {
      dropAfterBytes: 100_000,
      dropWhen: new Promise<void>((resolve) => (written = resolve)),
    });
    const updating = rig.update('1.0');
    await eventually(
      'the device to have written the first 100,000 bytes',
      () => (rig.manager.progress?.received ?? 0) >= 100_000,
    );
    written();
    const { telemetry } = await updating;
    expect(telemetry.at(-1)).toMatchObject({ phase: 'committed' });
    const [first, resumed] = rig.proxy.stats.objectRequests;
    expect(first?.range).toBeUndefined();
    expect(resumed?.path).toBe(first?.path);
    expect(resumed?.range).toBe('bytes=100000-'); // it kept what arrived and asked for the rest only
    expect(telemetry[0]).toMatchObject({ phase: 'downloaded', bytes: 256 * 1024 }); // received in all, once
  });

  it('is refused with NOT_ASSIGNED, installing nothing, when the Director assigns another revision', async () => {
    await rig.release('1.0', randomArtifacts(1));
    const { telemetry } = await rig.update('9.9');
    expect(telemetry).toMatchObject([{ phase: 'failed', error: { code: 'NOT_ASSIGNED' } }]);
    expect((await rig.manager.boot.read()).active).toBeNull();
    expect(await readdir(rig.dataDir)).not.toContain('slots');
  });

  it('is acknowledged as a duplicate when commanded again, and never installed twice', async () => {
    await rig.release('1.0', randomArtifacts(1));
    await rig.update('1.0', 'rollout-1');
    rig.proxy.reset();
    const again = await rig.manager.accept({ rolloutId: 'rollout-1', revision: '1.0' });
    expect(again).toEqual({ accepted: true, duplicate: true });
    await rig.manager.idle();
    expect(rig.proxy.stats.objectRequests).toEqual([]);
  });

  it('rolls back to the committed revision when the new one fails its health check', async () => {
    await rig.release('1.0', randomArtifacts(1));
    await rig.update('1.0');
    await rig.release('2.0', [{ path: 'other.bin', bytes: Buffer.from('no part-0 here') }]);
    const { telemetry } = await rig.update('2.0');
    expect(phasesOf(telemetry)).toEqual(['downloaded', 'verified', 'installed', 'rolled_back']);
    expect(telemetry[3]).toMatchObject({ deployment: 'a', error: { code: 'HEALTH_CHECK_FAILED' } });
    expect(await rig.manager.boot.read()).toMatchObject({ active: { revision: '1.0' }, trial: false });
  });

  it('uses the health check the revision names over the agent default', async () => {
    await rig.release('1.0', randomArtifacts(1), {
      health: { command: ['sh', '-c', 'exit 7'], timeoutMs: 2000 },
    });
    const { telemetry } = await rig.update('1.0');
    expect(telemetry.at(-1)).toMatchObject({ phase: 'rolled_back', error: { code: 'HEALTH_CHECK_FAILED' } });
  });
});

describe('revisions in history', () => {
  beforeEach(async () => {
    rig = await startAgentRig();
  });

  it('can be installed again without the network: back to 1.0, then forward to 2.0', async () => {
    const v1 = randomArtifacts(2);
    const v2 = randomArtifacts(2);
    await rig.release('1.0', v1);
    await rig.update('1.0');
    await rig.release('2.0', v2);
    await rig.update('2.0');
    await rig.repos.close(); // offline from here

    expect(await rig.manager.installFromHistory('1.0', 'back-to-1')).toEqual({
      accepted: true,
      duplicate: false,
    });
    await rig.manager.idle();
    let control = await rig.manager.boot.read();
    expect(control).toMatchObject({ active: { revision: '1.0', rolloutId: 'back-to-1' }, trial: false });
    expect(
      await readFile(join(rig.manager.installer.pathOf(control.active!.deployment), 'part-0.bin')),
    ).toEqual(v1[0]!.bytes);

    await rig.manager.installFromHistory('2.0', 'forward-to-2');
    await rig.manager.idle();
    control = await rig.manager.boot.read();
    expect(control.active).toMatchObject({ revision: '2.0', rolloutId: 'forward-to-2' });
    const outcomes = (await rig.manager.history.entries()).map((e) => [e.revision, e.outcome]);
    expect(outcomes).toEqual([
      ['1.0', 'committed'],
      ['2.0', 'committed'],
      ['1.0', 'committed'],
      ['2.0', 'committed'],
    ]);
  });

  it('records a failed attempt under the attempted target, and never installs it from history', async () => {
    await rig.release('1.0', randomArtifacts(1));
    await rig.update('1.0');
    const { revision, target } = await rig.release('2.0', randomArtifacts(1));
    await rig.tamperObject(revision.artifacts[0]!.sha256);
    const { telemetry } = await rig.update('2.0');
    expect(telemetry.at(-1)).toMatchObject({ phase: 'failed', error: { code: 'HASH_MISMATCH' } });
    const failed = (await rig.manager.history.entries()).at(-1);
    expect(failed).toMatchObject({
      revision: '2.0',
      outcome: 'failed',
      deployment: 'a',
      target: { path: target },
    });
    expect(failed?.target.hashes['sha256']).toMatch(/^[0-9a-f]{64}$/);

    expect(await rig.manager.installFromHistory('2.0', 'retry-2')).toMatchObject({
      accepted: false,
      error: { code: 'COMMAND_REJECTED' },
    });
    expect((await rig.manager.boot.read()).active).toMatchObject({ revision: '1.0', deployment: 'a' });
  });

  it('refuses a revision that is not in history', async () => {
    expect(await rig.manager.installFromHistory('7.7', 'x')).toMatchObject({
      accepted: false,
      error: { code: 'COMMAND_REJECTED' },
    });
  });
});

describe('the data directory', () => {
  /** Mode of every file and folder of the agent's state by path, a folder's ending in `/`. */
  async function stateModes(dir: string, under = ''): Promise<Record<string, number>> {
    const modes: Record<string, number> = {};
    for (const entry of await readdir(join(dir, under), { withFileTypes: true })) {
      const path = under ? `${under}/${entry.name}` : entry.name;
      if (!under && ['slots', 'control.sock'].includes(entry.name)) continue; // installed content, the socket
      if (!entry.isDirectory()) modes[path] = await modeOf(join(dir, path));
      else Object.assign(modes, { [`${path}/`]: await modeOf(join(dir, path)) }, await stateModes(dir, path));
    }
    return modes;
  }
  /** What `modes` should be: folders 0700, files 0600. */
  const private_ = (modes: Record<string, number>) =>
    Object.fromEntries(Object.keys(modes).map((path) => [path, path.endsWith('/') ? 0o700 : 0o600]));

  it("is the agent's alone: 0700, with its state files 0600, even one an older agent left open", async () => {
    rig = await startAgentRig();
    await rig.release('1.0', randomArtifacts(1));
    await rig.update('1.0');
    // As an older agent left it: the directory 0755, every file 0644.
    const before = await stateModes(rig.dataDir);
    for (const path of Object.keys(before))
      await chmod(join(rig.dataDir, path), path.endsWith('/') ? 0o755 : 0o644);
    await chmod(rig.dataDir, 0o755);

    await rig.restart().recover();
    expect(await modeOf(rig.dataDir)).toBe(0o700);
    const after = await stateModes(rig.dataDir);
    expect(Object.keys(after)).toEqual(
      expect.arrayContaining(['history.json', 'trust/', 'objects/', 'reports/']),
    );
    expect(after).toEqual(private_(after));
  });

  it('gets new state files 0600 as they are written', async () => {
    rig = await startAgentRig();
    await rig.release('1.0', randomArtifacts(1));
    await rig.update('1.0');
    const files = Object.fromEntries(
      Object.entries(await stateModes(rig.dataDir)).filter(([path]) => !path.endsWith('/')),
    );
    expect(Object.keys(files)).toEqual(expect.arrayContaining(['history.json', 'boot-control.json']));
    expect(files).toEqual(private_(files));
  });
});

describe('a trial interrupted by a crash', () => {
  /** Revision 2.0 is switched to, then the agent "dies" before the health check. */
  async function interruptedTrial() {
    rig = await startAgentRig();
    await rig.release('1.0', randomArtifacts(1));
    await rig.update('1.0');
    await rig.release('2.0', randomArtifacts(1));
    // It stops for good at the boundary: once there, it writes nothing more (before, the test went
    // on once the trial was armed, and the old agent still wrote while the new one read the files).
    let died!: () => void;
    const dead = new Promise<void>((resolve) => (died = resolve));
    const old = rig.restart({
      onBoundary: (b) => (b === 'switched' ? (died(), new Promise<void>(() => {})) : undefined),
    });
    await old.accept({ rolloutId: 'r2', revision: '2.0' });
    await dead;
    expect(await old.boot.read()).toMatchObject({ active: { revision: '2.0' }, trial: true });
  }

  it('is decided again at the next start: healthy, it commits and says so', async () => {
    await interruptedTrial();
    const manager = rig.restart({ healthCheck: shellCheck('true') });
    expect(await manager.recover()).toBe('committed');
    expect(await manager.boot.read()).toMatchObject({
      active: { revision: '2.0' },
      trial: false,
      bootAttempts: 0,
    });
  });

  it('rolls back to the last committed revision when the health check then fails', async () => {
    await interruptedTrial();
    const manager = rig.restart({ healthCheck: shellCheck('exit 1') });
    expect(await manager.recover()).toBe('rolled_back');
    expect(await manager.boot.read()).toMatchObject({ active: { revision: '1.0' }, trial: false });
  });

  it(`gives up after ${MAX_BOOT_ATTEMPTS} starts on trial and rolls back by itself`, async () => {
    await interruptedTrial();
    for (let i = 0; i < MAX_BOOT_ATTEMPTS; i++) await rig.manager.boot.countBootAttemptIfOnTrial();
    const manager = rig.restart({ healthCheck: shellCheck('true') });
    expect(await manager.recover()).toBe('rolled_back'); // the health check is not asked again
    expect(await manager.boot.read()).toMatchObject({ active: { revision: '1.0' }, trial: false });
    const last = (await manager.journal.after(0)).filter((e) => e.kind === 'telemetry').at(-1);
    expect(last?.body).toMatchObject({
      rolloutId: 'r2',
      phase: 'rolled_back',
      error: { code: 'BOOT_ATTEMPTS_EXCEEDED' },
    });
  });
});

describe('the OSTree installer behind the update manager', () => {
  beforeEach(async () => {
    rig = await startAgentRig({ installer: 'ostree', healthCheck: shellCheck('test -s part-0.bin') });
  });

  it('checks out an executable artifact executable', async () => {
    await rig.release('1.0', withScript(), { health: { command: ['sh', '-c', './bin/check.sh'] } });
    expect((await rig.update('1.0')).telemetry.at(-1)).toMatchObject({ phase: 'committed' });
    const current = join(rig.dataDir, 'ostree', 'current');
    expect(await modeOf(join(current, 'bin', 'check.sh'))).toBe(0o755);
    expect(await modeOf(join(current, 'part-0.bin'))).toBe(0o644);
  });

  it('installs, commits, and rolls back on a failed health check', async () => {
    await rig.release('1.0', randomArtifacts(2));
    const first = await rig.update('1.0');
    expect(first.telemetry.at(-1)).toMatchObject({ phase: 'committed' });
    expect(phasesOf(first.telemetry)).toEqual([
      'downloaded',
      'verified',
      'installed',
      'healthy',
      'committed',
    ]);
    const committed = (await rig.manager.boot.read()).active!;
    expect(committed.deployment).toMatch(/^[0-9a-f]{64}$/);
    expect(await readlink(join(rig.dataDir, 'ostree', 'current'))).toContain(committed.deployment);

    await rig.release('2.0', [{ path: 'other.bin', bytes: Buffer.from('no part-0 here') }]);
    const second = await rig.update('2.0');
    expect(phasesOf(second.telemetry)).toEqual(['downloaded', 'verified', 'installed', 'rolled_back']);
    expect((await rig.manager.boot.read()).active).toEqual(committed);
    expect(await readlink(join(rig.dataDir, 'ostree', 'current'))).toContain(committed.deployment);
  });
});
