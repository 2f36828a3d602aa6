import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { main as uproll } from '../../../cli/main.ts';
import { readNatsIdentity } from '../../../services/nats-auth/index.ts';
import { captureIo } from '../../cli-io.ts';

let stateDir: string;
beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'uproll-cli-nats-'));
});

async function run(...argv: string[]) {
  const io = captureIo();
  const status = await uproll([...argv, '--state-dir', stateDir], io);
  return { status, stdout: io.stdout(), stderr: io.stderr() };
}

const SEED = /\bS[OAU][A-Z2-7]{56}\b/;

describe('uproll nats init', () => {
  it('creates the identity once; run again, it keeps the keys and records a new URL', async () => {
    const first = await run('nats', 'init', '--url', 'nats://nats.example.com:4222', '--json');
    expect(first.status, first.stderr).toBe(0);
    const created = await readNatsIdentity(stateDir);

    const again = await run('nats', 'init', '--url', 'nats://a.example.com:4222,nats://b.example.com:4222');

    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^kept the existing NATS identity/);
    const kept = await readNatsIdentity(stateDir);
    expect(kept?.accountSeed).toBe(created?.accountSeed);
    expect(kept?.servers).toBe('nats://a.example.com:4222,nats://b.example.com:4222');
    expect(first.stdout + again.stdout).not.toMatch(SEED);
    expect((await stat(join(stateDir, 'nats'))).mode & 0o777).toBe(0o700);
  });

  it('refuses a URL that is not one, and no URL at all', async () => {
    const bad = await run('nats', 'init', '--url', 'http://nats.example.com:4222');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(
      /^uproll: INVALID_INPUT: --url "http:\/\/nats.example.com:4222" is not a NATS URL/,
    );
    expect(await readNatsIdentity(stateDir)).toBeUndefined();

    expect((await run('nats', 'init')).status).toBe(2);
  });
});

describe('uproll nats config', () => {
  it('refuses with NATS_NOT_INITIALIZED before nats init', async () => {
    const refused = await run('nats', 'config', '--out', join(stateDir, 'nats-server.conf'));
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^uproll: NATS_NOT_INITIALIZED: .*`uproll nats init --url URL`/);
  });

  it('writes a whole configuration, or only the trust settings to include, again whenever asked', async () => {
    await run('nats', 'init', '--url', 'nats://127.0.0.1:4222');
    const out = join(stateDir, 'nats-server.conf');

    const whole = await run('nats', 'config', '--out', out, '--port', '4333', '--store-dir', 'js');
    expect(whole.status, whole.stderr).toBe(0);
    expect(JSON.parse(await readFile(out, 'utf8'))).toMatchObject({
      host: '0.0.0.0',
      port: 4333,
      jetstream: { store_dir: join(process.cwd(), 'js') },
      resolver: { type: 'full', dir: '/var/lib/nats/accounts' },
    });

    const include = await run(
      'nats',
      'config',
      '--out',
      out,
      '--include',
      '--resolver-dir',
      '/srv/nats/accounts',
    );
    expect(include.status, include.stderr).toBe(0);
    const text = await readFile(out, 'utf8');
    expect(text).toMatch(/^operator: "ey/);
    expect(text).not.toContain('jetstream');
    expect(text).not.toMatch(SEED);
    expect((await stat(out)).mode & 0o777).toBe(0o644);
  });

  it('wants --out', async () => {
    await run('nats', 'init', '--url', 'nats://127.0.0.1:4222');
    expect((await run('nats', 'config')).status).toBe(2);
  });
});
