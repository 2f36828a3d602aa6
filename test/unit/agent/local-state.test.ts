import { readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_BOOT_ATTEMPTS, type PhaseBoundary } from '../../../agent/index.ts';
import { fileTree } from '../../helpers/file-tree.ts';
import { randomArtifacts, startAgentRig, telemetryOf, type AgentRig } from '../../helpers/agent-rig.ts';

/*
 * What the agent finds on disk when it starts is checked before it is used:
 * a damaged file is reported and either restored from a good copy or
 * ignored, never trusted, and an update the agent was running when it died
 * is resumed (or, past the limit, given up) rather than forgotten.
 */

let rig: AgentRig;
afterEach(() => rig?.close());

/** Storage faults as the agent may find them: bytes that are no JSON, and JSON of another shape. */
const DAMAGE: [string, Uint8Array][] = [
  ['garbage bytes', Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x7b, 0x22])],
  [
    'valid JSON of the wrong shape',
    Buffer.from(JSON.stringify({ active: 'b', trial: 'no', bootAttempts: -1 })),
  ],
];

/** A device that committed revision 1.0 (rollout `r1-1.0`, slot a); returns its artifacts. */
async function deviceOnFirstRevision() {
  rig = await startAgentRig();
  const v1 = randomArtifacts(2);
  await rig.release('1.0', v1);
  const { telemetry } = await rig.update('1.0');
  expect(telemetry.at(-1)).toMatchObject({ phase: 'committed' });
  return v1;
}

/** Expects the files of `artifacts` in `deployment`, byte for byte. */
async function expectInstalled(deployment: string, artifacts: { path: string; bytes: Uint8Array }[]) {
  for (const { path, bytes } of artifacts)
    expect(await readFile(join(rig.manager.installer.pathOf(deployment), path))).toEqual(bytes);
}

/** A log that keeps its lines. */
function collectingLog() {
  const lines: string[] = [];
  return { lines, log: (line: string) => void lines.push(line) };
}

describe('when boot-control.json is damaged after a committed update', () => {
  it.each(DAMAGE)(
    '(%s) recover restores the last good copy, says so, and the device keeps its revision',
    async (_, damage) => {
      const v1 = await deviceOnFirstRevision();
      const lastGood = await readFile(rig.manager.boot.lastGoodPath);
      await writeFile(rig.manager.boot.path, damage);

      const { lines, log } = collectingLog();
      const manager = rig.restart({ log });
      expect(await manager.recover()).toBe('idle');

      expect(lines).toEqual([
        expect.stringMatching(
          /boot control was damaged.*restored the last good boot control \(revision 1\.0\)/,
        ),
      ]);
      expect(await readFile(manager.boot.path)).toEqual(lastGood);
      expect(await manager.boot.read()).toMatchObject({
        active: { revision: '1.0', rolloutId: 'r1-1.0', deployment: 'a' },
        trial: false,
      });
      await expectInstalled('a', v1);

      const v2 = randomArtifacts(2);
      await rig.release('2.0', v2);
      const { telemetry } = await rig.update('2.0');
      expect(telemetry.at(-1)).toMatchObject({ phase: 'committed' });
      expect(await manager.boot.read()).toMatchObject({ active: { revision: '2.0', deployment: 'b' } });
      await expectInstalled('b', v2);
    },
  );

  it('with the last good copy damaged too, recover refuses to guess (INVALID_INPUT) and changes nothing', async () => {
    await deviceOnFirstRevision();
    const [[, garbage], [, wrongShape]] = DAMAGE as [[string, Uint8Array], [string, Uint8Array]];
    await writeFile(rig.manager.boot.path, garbage);
    await writeFile(rig.manager.boot.lastGoodPath, wrongShape);
    const before = await fileTree(rig.dataDir);

    const manager = rig.restart({ log: collectingLog().log });
    await expect(manager.recover()).rejects.toThrowWithCode('INVALID_INPUT');
    expect(await fileTree(rig.dataDir)).toEqual(before);
  });
});

describe('when history.json is damaged', () => {
  /** A well-formed history entry but for one bad field: all of it must be ignored, this rollout too. */
  const forged = [
    {
      revision: '9.9',
      rolloutId: 'r-next',
      deployment: 'b',
      releaseCounter: 9,
      target: { path: 'revisions/9.9.json', length: 1, hashes: {} },
      outcome: 'done',
      at: new Date().toISOString(),
    },
  ];
  const HISTORY_DAMAGE: [string, Uint8Array][] = [
    DAMAGE[0]!,
    ['valid JSON of the wrong shape (naming the next rollout as done)', Buffer.from(JSON.stringify(forged))],
  ];

  it.each(HISTORY_DAMAGE)(
    '(%s) it is reported and treated as empty, never trusted: the agent starts and updates',
    async (_, damage) => {
      await deviceOnFirstRevision();
      await writeFile(join(rig.dataDir, 'history.json'), damage);

      const { lines, log } = collectingLog();
      const manager = rig.restart({ log });
      expect(await manager.recover()).toBe('idle');
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) expect(line).toMatch(/history\.json.*ignoring it/);
      expect(await manager.boot.read()).toMatchObject({ active: { revision: '1.0' }, trial: false });

      // Had the damaged file been trusted, `r-next` would pass for a rollout already done.
      const v2 = randomArtifacts(1);
      await rig.release('2.0', v2);
      expect(await manager.accept({ rolloutId: 'r-next', revision: '2.0' })).toEqual({
        accepted: true,
        duplicate: false,
      });
      await manager.idle();
      expect((await telemetryOf(manager, 'r-next')).at(-1)).toMatchObject({ phase: 'committed' });
      await expectInstalled('b', v2);
      // Rebuilt from what the boot control shows, then the new outcome; nothing of the damaged file.
      expect((await manager.history.entries()).map((e) => [e.rolloutId, e.revision, e.outcome])).toEqual([
        ['r1-1.0', '1.0', 'committed'],
        ['r-next', '2.0', 'committed'],
      ]);
    },
  );
});

describe('when a report journal entry is torn', () => {
  const entryPath = (seq: number) => join(rig.dataDir, 'reports', `${String(seq).padStart(16, '0')}.json`);
  /** The journal numbers its first report after the clock's milliseconds: `n` is the n-th report. */
  const nth = async (n: number) => (await rig.manager.journal.after(0))[0]!.seq - 1 + n;

  it('it is skipped and removed; the rest is delivered in order', async () => {
    await deviceOnFirstRevision(); // journals 1 downloaded, 2 verified, 3 installed, 4 healthy, 5 committed, 6 manifest
    const [first, second, sixth] = [await nth(1), await nth(2), await nth(6)];
    const bytes = await readFile(entryPath(second));
    await truncate(entryPath(second), Math.floor(bytes.byteLength / 2));

    const journal = rig.restart().journal;
    const entries = await journal.after(0);
    expect(entries.map((e) => [e.seq - first + 1, e.kind])).toEqual([
      [1, 'telemetry'],
      [3, 'telemetry'],
      [4, 'telemetry'],
      [5, 'telemetry'],
      [6, 'manifest'],
    ]);
    expect(entries.at(-1)?.seq).toBe(sixth);
    expect(entries.map((e) => (e.body as { phase?: string }).phase)).toEqual([
      'downloaded',
      'installed',
      'healthy',
      'committed',
      undefined,
    ]);
    await expect(stat(entryPath(second))).rejects.toThrow();
    expect((await journal.after(0)).map((e) => e.seq - first + 1)).toEqual([1, 3, 4, 5, 6]);
  });

  it('sequence numbers are never reused after a restart, even after ack removed every entry', async () => {
    await deviceOnFirstRevision();
    const first = rig.manager.journal;
    const last = (await first.after(0)).at(-1)!.seq;
    await first.ack(last);
    expect(await first.after(0)).toEqual([]);

    const journal = rig.restart().journal;
    expect((await journal.append('telemetry', () => ({ note: 'after restart' }))).seq).toBe(last + 1);
    await rig.release('2.0', randomArtifacts(1));
    await rig.update('2.0');
    const seqs = (await journal.after(0)).map((e) => e.seq);
    expect(seqs[0]).toBe(last + 1);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  // A cloud client may already have delivered the torn entry live: reusing its number would make the
  // server drop the next report as a repeat.
  it('a torn newest entry does not give its sequence number to the next report', async () => {
    await deviceOnFirstRevision(); // 1..6, the manifest last
    const [first, sixth] = [await nth(1), await nth(6)];
    const bytes = await readFile(entryPath(sixth));
    await truncate(entryPath(sixth), Math.floor(bytes.byteLength / 2));

    const journal = rig.restart().journal;
    expect((await journal.after(0)).map((e) => e.seq - first + 1)).toEqual([1, 2, 3, 4, 5]);
    expect((await rig.restart().journal.append('telemetry', () => ({}))).seq).toBeGreaterThan(sixth);
  });

  // Numbers going back would also send manifest counters back, which the Director refuses.
  it('a damaged cursor does not restart the numbering after every entry was acked', async () => {
    await deviceOnFirstRevision();
    await rig.manager.journal.ack(4);
    await writeFile(join(rig.dataDir, 'reports', 'cursor.json'), DAMAGE[0]![1]);
    expect((await rig.restart().journal.append('telemetry', () => ({}))).seq).toBeGreaterThan(4);
  });
});

/**
 * The agent "dies" at `boundary`: its update stops there for good (as if the
 * power went); `reached` settles when it got there.
 */
function dieAt(boundary: PhaseBoundary) {
  let reached!: () => void;
  return {
    reached: new Promise<void>((resolve) => (reached = resolve)),
    onBoundary: (at: PhaseBoundary): Promise<void> | undefined => {
      if (at !== boundary) return undefined;
      reached();
      return new Promise<void>(() => {});
    },
  };
}

describe('when an update was interrupted before its switch (pending.json)', () => {
  /** Revision 1.0 committed; the update to 2.0 (rollout `r2`) dies after its objects were downloaded and verified. */
  async function interruptedUpdate() {
    const v1 = await deviceOnFirstRevision();
    const v2 = randomArtifacts(3);
    const { revision } = await rig.release('2.0', v2);
    const death = dieAt('verified');
    const dead = rig.restart({ onBoundary: death.onBoundary });
    expect(await dead.accept({ rolloutId: 'r2', revision: '2.0' })).toMatchObject({ accepted: true });
    await death.reached;
    await expect(stat(join(rig.dataDir, 'pending.json'))).resolves.toBeDefined();
    const present = await dead.objects.present();
    for (const artifact of revision.artifacts) expect(present.has(artifact.sha256)).toBe(true);
    return { v1, v2 };
  }

  it('is resumed at the next start and committed without downloading the objects again', async () => {
    const { v2 } = await interruptedUpdate();
    rig.proxy.reset();

    const manager = rig.restart();
    expect(await manager.recover()).toBe('resumed');
    await manager.idle();

    expect(rig.proxy.stats.objectRequests).toEqual([]);
    expect(await manager.boot.read()).toMatchObject({
      active: { revision: '2.0', rolloutId: 'r2', deployment: 'b' },
      trial: false,
    });
    await expectInstalled('b', v2);
    expect(await manager.history.pending()).toBeUndefined();
    const telemetry = await telemetryOf(manager, 'r2');
    // Died after verifying; resumed: the objects are there, nothing is downloaded again.
    expect(telemetry.map((t) => t.phase)).toEqual([
      'downloaded',
      'verified',
      'downloaded',
      'verified',
      'installed',
      'healthy',
      'committed',
    ]);
    expect(telemetry[2]).toMatchObject({ bytes: 0 });
  });

  it(`is given up after ${MAX_BOOT_ATTEMPTS} interrupted starts: failed (INSTALL_FAILED), still on the committed revision`, async () => {
    const { v1 } = await interruptedUpdate();
    for (let start = 1; start <= MAX_BOOT_ATTEMPTS; start++) {
      const death = dieAt('verified');
      expect(await rig.restart({ onBoundary: death.onBoundary }).recover()).toBe('resumed');
      await death.reached;
      expect(await rig.manager.history.pending()).toMatchObject({
        command: { rolloutId: 'r2' },
        starts: start,
      });
    }

    const manager = rig.restart();
    expect(await manager.recover()).toBe('failed');
    expect((await telemetryOf(manager, 'r2')).at(-1)).toMatchObject({
      phase: 'failed',
      deployment: 'a',
      error: { code: 'INSTALL_FAILED' },
    });
    expect(await manager.history.pending()).toBeUndefined();
    expect(await manager.boot.read()).toMatchObject({
      active: { revision: '1.0', deployment: 'a' },
      trial: false,
    });
    await expectInstalled('a', v1);
    expect((await manager.history.entries()).at(-1)).toMatchObject({ rolloutId: 'r2', outcome: 'failed' });

    // The next start has nothing left to resume.
    expect(await rig.restart().recover()).toBe('idle');
  });
});

describe('when only the last good copy of the boot control is left', () => {
  it('is taken instead of starting from factory state (which would overwrite the running slot)', async () => {
    rig = await startAgentRig();
    await rig.release('1.0', randomArtifacts(1));
    await rig.update('1.0');
    await rm(join(rig.dataDir, 'boot-control.json'));
    const problems: string[] = [];
    const manager = rig.restart({ log: (line) => problems.push(line) });
    await manager.recover();
    expect((await manager.boot.read()).active).toMatchObject({ revision: '1.0', deployment: 'a' });
    expect(problems.join('\n')).toContain('is missing');
  });
});
