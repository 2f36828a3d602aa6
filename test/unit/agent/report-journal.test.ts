import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReportJournal } from '../../../agent/report-journal.ts';

const at = (iso: string) => () => new Date(iso);
const dataDir = () => mkdtemp(join(tmpdir(), 'uproll-journal-'));

describe('the report journal', () => {
  it('numbers the first report of a journal with no history by the clock, in milliseconds', async () => {
    const journal = new ReportJournal(await dataDir(), at('2026-12-02T04:00:00.000Z'));
    const first = await journal.append('manifest', (seq) => ({ counter: seq }));
    expect(first.seq).toBe(Date.parse('2026-12-02T04:00:00.000Z') + 1);
    expect((await journal.append('telemetry', () => ({}))).seq).toBe(first.seq + 1);
  });

  it('keeps counting up from a wiped data directory: a new journal starts above what the old one sent', async () => {
    const old = new ReportJournal(await dataDir(), at('2026-12-01T00:00:00.000Z'));
    let last = 0;
    for (let i = 0; i < 50; i++) last = (await old.append('manifest', () => ({}))).seq;
    // The device is set up again a minute later, with an empty data directory.
    const fresh = new ReportJournal(await dataDir(), at('2026-12-01T00:01:00.000Z'));
    expect((await fresh.append('manifest', () => ({}))).seq).toBeGreaterThan(last);
  });

  it('goes on from the sequence a journal holds, whatever the clock says', async () => {
    const dir = await dataDir();
    const journal = new ReportJournal(dir, at('2026-12-02T04:00:00.000Z'));
    const { seq } = await journal.append('manifest', () => ({}));
    const reopened = new ReportJournal(dir, at('2020-01-01T00:00:00.000Z'));
    expect((await reopened.append('manifest', () => ({}))).seq).toBe(seq + 1);
  });

  it('reads the entries of a journal written before, with 12-digit names, and numbers on from them', async () => {
    const dir = await dataDir();
    await mkdir(join(dir, 'reports'));
    await writeFile(
      join(dir, 'reports', '000000000041.json'),
      JSON.stringify({ seq: 41, kind: 'telemetry', body: { step: 'old' } }),
    );
    const journal = new ReportJournal(dir, at('2026-12-02T04:00:00.000Z'));
    expect(await journal.after(0)).toEqual([{ seq: 41, kind: 'telemetry', body: { step: 'old' } }]);
    expect((await journal.append('manifest', () => ({}))).seq).toBe(42);
    expect((await readdir(join(dir, 'reports'))).sort()).toEqual([
      '0000000000000042.json',
      '000000000041.json',
      'last-seq.json',
    ]);
  });
});
