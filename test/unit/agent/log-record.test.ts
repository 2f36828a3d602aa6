import { openSync, closeSync, fstatSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatLogRecord, isJournalStream, type LogRecord } from '../../../agent/index.ts';

const record: LogRecord = {
  priority: 'err',
  message: 'update failed',
  fields: {
    rollout: 'r-1',
    revision: 'app-2.0',
    phase: 'failed',
    code: 'NOT_ASSIGNED',
    error: 'the Director assigns nothing',
    deployment: undefined,
  },
};

describe('an agent log line', () => {
  it('is the message, then key=value fields, values with spaces quoted', () => {
    expect(formatLogRecord(record, { style: 'text', journal: false, tag: 'uproll-agent' })).toBe(
      'uproll-agent: update failed rollout=r-1 revision=app-2.0 phase=failed code=NOT_ASSIGNED error="the Director assigns nothing"',
    );
  });

  it('starts with its journald priority instead of the tag when stderr is the journal', () => {
    expect(formatLogRecord(record, { style: 'text', journal: true, tag: 'uproll-agent' })).toMatch(
      /^<3>update failed rollout=r-1 /,
    );
    expect(formatLogRecord({ priority: 'info', message: 'ready' }, { style: 'text', journal: true })).toBe(
      '<6>ready',
    );
  });

  it('is one JSON object with --log-format json', () => {
    const line = formatLogRecord(record, { style: 'json', journal: true });
    expect(line.startsWith('<3>{')).toBe(true);
    expect(JSON.parse(line.slice(3))).toEqual({
      priority: 'err',
      message: 'update failed',
      rollout: 'r-1',
      revision: 'app-2.0',
      phase: 'failed',
      code: 'NOT_ASSIGNED',
      error: 'the Director assigns nothing',
    });
  });

  it('cannot be split into two lines by a message with a newline', () => {
    const line = formatLogRecord(
      { priority: 'info', message: 'a\nuproll-agent: forged', fields: { error: 'x\ny' } },
      { style: 'text', journal: false, tag: 'uproll-agent' },
    );
    expect(line.split('\n')).toHaveLength(1);
  });
});

describe('isJournalStream', () => {
  it('is true only when JOURNAL_STREAM names the very file descriptor', () => {
    const dir = mkdtempSync(join(tmpdir(), 'uproll-journal-'));
    const fd = openSync(join(dir, 'stream'), 'w');
    try {
      const { dev, ino } = fstatSync(fd);
      expect(isJournalStream({ JOURNAL_STREAM: `${dev}:${ino}` }, fd)).toBe(true);
      expect(isJournalStream({ JOURNAL_STREAM: `${dev}:${ino + 1}` }, fd)).toBe(false);
      expect(isJournalStream({}, fd)).toBe(false);
      expect(isJournalStream({ JOURNAL_STREAM: 'nonsense' }, fd)).toBe(false);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
