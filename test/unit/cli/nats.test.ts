import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { main as uproll } from '../../../cli/main.ts';
import { createFleetCa, issueServerCertificate } from '../../../keys/index.ts';
import { readNatsIdentity, readOwnNatsTls } from '../../../services/nats-auth/index.ts';
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

  it('makes the directory it writes into when there is none yet', async () => {
    expect((await run('nats', 'init', '--url', 'nats://127.0.0.1:4222')).status).toBe(0);
    const out = join(stateDir, 'etc', 'nats', 'uproll.conf');
    const written = await run('nats', 'config', '--out', out);
    expect(written.status, written.stderr).toBe(0);
    expect(await readFile(out, 'utf8')).toContain('tls');
    expect((await stat(join(stateDir, 'etc', 'nats', 'uproll.key'))).mode & 0o777).toBe(0o600);
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
    expect(text).toMatch(/^tls: \{/);
    expect(text).toMatch(/^operator: "ey/m);
    expect(text).not.toContain('jetstream');
    expect(text).not.toMatch(SEED);
    expect((await stat(out)).mode & 0o777).toBe(0o644);
  });

  it("speaks TLS by default: a certificate from the deployment's server CA beside the file, its key 0600", async () => {
    await run('nats', 'init', '--url', 'nats://nats.example.com:4222');
    const out = join(stateDir, 'etc', 'uproll.conf');
    await mkdir(join(stateDir, 'etc'));

    const written = await run(
      'nats',
      'config',
      '--out',
      out,
      '--host',
      '10.0.0.5',
      '--tls-host',
      'nats.example.com',
    );

    expect(written.status, written.stderr).toBe(0);
    const [certFile, keyFile] = [join(stateDir, 'etc', 'uproll.crt'), join(stateDir, 'etc', 'uproll.key')];
    expect(JSON.parse(await readFile(out, 'utf8'))).toMatchObject({
      tls: { cert_file: certFile, key_file: keyFile, verify: false },
    });
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const certificate = new X509Certificate(await readFile(certFile));
    const ca = new X509Certificate(await readFile(join(stateDir, 'tls', 'ca.crt')));
    expect(certificate.verify(ca.publicKey)).toBe(true);
    for (const name of ['nats.example.com', 'localhost']) expect(certificate.checkHost(name)).toBe(name);
    for (const ip of ['10.0.0.5', '127.0.0.1', '::1']) expect(certificate.checkIP(ip)).toBe(ip);
    expect(await readOwnNatsTls(stateDir)).toEqual({ tls: true, stateCa: true });
  });

  it('plain text only with --insecure; your own certificate with --tls-cert/--tls-key, a key others read refused', async () => {
    await run('nats', 'init', '--url', 'nats://127.0.0.1:4222');
    const out = join(stateDir, 'nats-server.conf');

    const insecure = await run('nats', 'config', '--out', out, '--insecure');
    expect(insecure.status, insecure.stderr).toBe(0);
    expect(JSON.parse(await readFile(out, 'utf8'))).not.toHaveProperty('tls');
    expect(await readOwnNatsTls(stateDir)).toEqual({ tls: false, stateCa: false });

    const own = join(stateDir, 'own');
    await mkdir(own);
    const caKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const serverKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const caCertificate = createFleetCa(caKey, new Date(), { name: 'the operator CA' });
    const cert = issueServerCertificate({
      caKey,
      caCertificate,
      serverKey,
      hosts: ['nats.example.com'],
      now: new Date(),
    });
    await writeFile(join(own, 'server.crt'), cert);
    await writeFile(join(own, 'server.key'), serverKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o644,
    });
    const ownArgs = ['--tls-cert', join(own, 'server.crt'), '--tls-key', join(own, 'server.key')];

    const readable = await run('nats', 'config', '--out', out, ...ownArgs);
    expect(readable.status).toBe(1);
    expect(readable.stderr).toMatch(/^uproll: INVALID_INPUT: --tls-key .* is readable by others/);

    await chmod(join(own, 'server.key'), 0o600);
    const copied = await run('nats', 'config', '--out', out, ...ownArgs);
    expect(copied.status, copied.stderr).toBe(0);
    expect(await readFile(join(stateDir, 'nats-server.crt'), 'utf8')).toBe(cert);
    expect(await readOwnNatsTls(stateDir)).toEqual({ tls: true, stateCa: false });
  });

  it('wants --out', async () => {
    await run('nats', 'init', '--url', 'nats://127.0.0.1:4222');
    expect((await run('nats', 'config')).status).toBe(2);
  });
});
