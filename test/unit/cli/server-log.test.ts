import { describe, expect, it } from 'vitest';
import { formatLogRecord } from '../../../agent/log-record.ts';
import { serverLogTo } from '../../../cli/server-log.ts';

function logged(format: Parameters<typeof serverLogTo>[1]) {
  const lines: string[] = [];
  return { log: serverLogTo((line) => lines.push(line), format), lines };
}

describe("a server process's log", () => {
  it("writes the agent's text lines: tag, message, key=value", () => {
    const { log, lines } = logged({ style: 'text', journal: false, tag: 'uproll serve' });
    log.warn({ code: 'UNAUTHORIZED', path: '/api/v1/keys' }, 'refused GET');
    log.info('stopped');
    expect(lines).toEqual([
      'uproll serve: refused GET code=UNAUTHORIZED path=/api/v1/keys',
      'uproll serve: stopped',
    ]);
  });

  it('writes one JSON object per line with the priority and message, as the agent does with --log-format json', () => {
    const { log, lines } = logged({ style: 'json', journal: false });
    log.notice({ sent: 2 }, 'audit events sent');
    expect(lines).toEqual([
      formatLogRecord(
        { priority: 'notice', message: 'audit events sent', fields: { sent: 2 } },
        { style: 'json', journal: false },
      ),
    ]);
    expect(JSON.parse(lines[0]!)).toEqual({ priority: 'notice', message: 'audit events sent', sent: 2 });
  });

  it('starts each line with its syslog priority in the journal, and gives an error its message and stack', () => {
    const { log, lines } = logged({ style: 'json', journal: true, tag: 'uproll serve' });
    log.error({ err: new Error('boom'), method: 'GET' }, 'call failed');
    expect(lines[0]).toMatch(/^<3>\{/);
    const record = JSON.parse(lines[0]!.slice(3)) as Record<string, string>;
    expect(record).toMatchObject({ priority: 'err', message: 'call failed', method: 'GET', error: 'boom' });
    expect(record['stack']).toContain('Error: boom');
  });

  it('keeps a field that is an object as one JSON value, and the fields of a child log', () => {
    const { log, lines } = logged({ style: 'text', journal: false });
    log.child({ part: 'api' }).info({ urls: { api: 'https://127.0.0.1:1' } }, 'ready');
    expect(lines).toEqual(['ready part=api urls="{\\"api\\":\\"https://127.0.0.1:1\\"}"']);
  });
});
