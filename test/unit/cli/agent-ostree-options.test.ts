import { describe, expect, it } from 'vitest';
import { main as uprollAgent } from '../../../cli/agent/main.ts';
import { captureIo } from '../../cli-io.ts';

const agent = async (...argv: string[]) => {
  const io = captureIo();
  const status = await uprollAgent(
    ['--bundle', '/nonexistent/bundle', '--data-dir', '/nonexistent/data', ...argv],
    io,
  );
  return { status, stderr: io.stderr() };
};

describe('uproll-agent --ostree-sysroot', () => {
  it('goes with --ostree-os and --installer ostree (a usage error otherwise)', async () => {
    expect(await agent('--installer', 'ostree', '--ostree-sysroot', '/')).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('--ostree-sysroot and --ostree-os go together') as string,
    });
    expect(await agent('--ostree-sysroot', '/', '--ostree-os', 'uproll')).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('needs --installer ostree') as string,
    });
  });

  it('refuses to start on a directory that is not a sysroot with that OS', async () => {
    const started = await agent(
      '--installer',
      'ostree',
      '--ostree-sysroot',
      '/nonexistent',
      '--ostree-os',
      'uproll',
    );
    expect(started.status).toBe(1);
    expect(started.stderr).toContain('FILE_NOT_FOUND: /nonexistent is not an OSTree sysroot with OS uproll');
  });

  it('takes an unknown option as a command line it cannot understand: exit 2, as the CLI', async () => {
    expect(await agent('--ostree-sysrot', '/')).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/^uproll-agent: Unknown option '--ostree-sysrot'/) as string,
    });
  });

  it('explains the options in --help', async () => {
    const io = captureIo();
    expect(await uprollAgent(['--help'], io)).toBe(0);
    expect(io.stdout()).toContain('--ostree-sysroot DIR');
    expect(io.stdout()).toContain('--ostree-os NAME');
  });
});
