import { X509Certificate } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../../cli/command.ts';
import { serverKeyPairOf } from '../../../cli/server-tls.ts';
import { isIssuedBy } from '../../../keys/index.ts';
import { ensureServerTls } from '../../../services/tls/index.ts';

let stateDir: string;
beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'uproll-server-tls-'));
});
afterAll(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

describe('the certificate the HTTP servers of uproll serve listen with', () => {
  it("is by default one from the deployment's server CA, for --host, loopback and --tls-host", async () => {
    const pair = await serverKeyPairOf(
      { 'state-dir': stateDir, 'tls-host': 'updates.example.com' },
      '10.0.0.5',
    );
    const cert = new X509Certificate(pair!.cert);
    for (const ip of ['10.0.0.5', '127.0.0.1', '::1']) expect(cert.checkIP(ip)).toBe(ip);
    expect(cert.checkHost('updates.example.com')).toBe('updates.example.com');
    expect(isIssuedBy(pair!.cert, await readFile(join(stateDir, 'tls', 'ca.crt'), 'utf8'))).toBe(true);
  });

  describe('when the operator brings its own (--tls-cert, --tls-key)', () => {
    let own: { certFile: string; keyFile: string };
    beforeAll(async () => {
      own = await ensureServerTls(join(stateDir, 'operator'), { now: new Date() });
    });

    it('serves with it', async () => {
      const pair = await serverKeyPairOf(
        { 'state-dir': stateDir, 'tls-cert': own.certFile, 'tls-key': own.keyFile },
        '127.0.0.1',
      );
      expect(pair).toEqual({
        cert: await readFile(own.certFile, 'utf8'),
        key: await readFile(own.keyFile, 'utf8'),
      });
    });

    it('refuses a key others can read, and a file that is no key, without quoting it', async () => {
      const open = join(stateDir, 'open.key');
      await writeFile(open, await readFile(own.keyFile));
      await chmod(open, 0o644);
      await expect(
        serverKeyPairOf({ 'state-dir': stateDir, 'tls-cert': own.certFile, 'tls-key': open }, '127.0.0.1'),
      ).rejects.toThrowWithCode('INVALID_INPUT');
      const junk = join(stateDir, 'junk.key');
      await writeFile(junk, 'not a key but a secret-looking line', { mode: 0o600 });
      const refused = serverKeyPairOf(
        { 'state-dir': stateDir, 'tls-cert': own.certFile, 'tls-key': junk },
        '127.0.0.1',
      );
      await expect(refused).rejects.toThrowWithCode('INVALID_INPUT');
      await expect(refused).rejects.not.toThrow(/secret-looking/);
    });

    it('takes both or neither', async () => {
      await expect(
        serverKeyPairOf({ 'state-dir': stateDir, 'tls-cert': own.certFile }, '127.0.0.1'),
      ).rejects.toThrow(UsageError);
    });
  });

  it('is none only with --insecure, which takes no certificate', async () => {
    expect(await serverKeyPairOf({ 'state-dir': stateDir, insecure: true }, '127.0.0.1')).toBeUndefined();
    await expect(
      serverKeyPairOf(
        { 'state-dir': stateDir, insecure: true, 'tls-cert': 'x.crt', 'tls-key': 'x.key' },
        '127.0.0.1',
      ),
    ).rejects.toThrow(UsageError);
  });
});
