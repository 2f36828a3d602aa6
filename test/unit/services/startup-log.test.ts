import { describe, expect, it } from 'vitest';
import { startupLogExcerpt } from '../../../services/dev-stack/startup-log.ts';

const frames = (n: number) =>
  Array.from({ length: n }, (_, i) => `\tgithub.com/spf13/cobra/command.go:${1000 + i} +0x${i}`);

describe('the log excerpt of a server that died during startup', () => {
  it('names the cause of a Go panic ahead of its stack trace', () => {
    const log = [
      '{"level":"warn","msg":"slow"}',
      'panic: listen tcp 127.0.0.1:41005: bind: address already in use',
      '',
      'goroutine 1 [running]:',
      ...frames(30),
    ].join('\n');
    const excerpt = startupLogExcerpt(log);
    expect(excerpt.split('\n')[0]).toBe('panic: listen tcp 127.0.0.1:41005: bind: address already in use');
    expect(excerpt).toContain(frames(30).at(-1));
    expect(excerpt).not.toContain('slow');
  });

  it('shows a short log whole, once', () => {
    const log = 'Error: failed starting server: failed checking dir for database file\n';
    expect(startupLogExcerpt(log)).toBe(
      'Error: failed starting server: failed checking dir for database file',
    );
  });

  it('shows the last lines when no line names a cause', () => {
    const excerpt = startupLogExcerpt(frames(20).join('\n'));
    expect(excerpt.split('\n')).toEqual(frames(20).slice(-8));
  });
});
