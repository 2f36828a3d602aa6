import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../../cli/command.ts';
import { deploymentOf, namedDeploymentOf } from '../../../cli/deployment.ts';
import { main } from '../../../cli/main.ts';
import { captureIo } from '../../cli-io.ts';
import { ensureServerTls } from '../../../services/tls/index.ts';

// The settings that say how a named deployment's Temporal is reached (namespace, TLS, mTLS, API
// key) and the deployment file that can hold them all: option over variable over file, each
// validated before any connection, no secret in any message. Nothing connects here.

const VARIABLES = [
  'UPROLL_TEMPORAL',
  'UPROLL_NATS',
  'UPROLL_NATS_CREDS',
  'UPROLL_NATS_CA',
  'UPROLL_TEMPORAL_NAMESPACE',
  'UPROLL_TEMPORAL_TLS',
  'UPROLL_TEMPORAL_CA',
  'UPROLL_TEMPORAL_CERT',
  'UPROLL_TEMPORAL_KEY',
  'UPROLL_TEMPORAL_SERVER_NAME',
  'UPROLL_TEMPORAL_API_KEY_FILE',
  'UPROLL_DEPLOYMENT_FILE',
];
const API_KEY = 'eyJhbGciOiJFUzI1NiJ9.c2VjcmV0LWFwaS1rZXk.signature-of-the-test';

let dir: string;
let seedFile: string;
let tls: { ca: string; cert: string; key: string };
let saved: Record<string, string | undefined>;

/** The three settings that name a deployment, as options. */
const named = () => ({
  'state-dir': dir,
  temporal: 'temporal.example.com:7233',
  nats: 'tls://nats.example.com:4222',
  'nats-seed-file': seedFile,
});

async function fileWith(name: string, content: string, mode = 0o600): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, content);
  await chmod(file, mode);
  return file;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uproll-deployment-settings-'));
  seedFile = await fileWith('services.seed', `SU${'A'.repeat(56)}\n`);
  const files = await ensureServerTls(join(dir, 'pki'), { now: new Date() });
  tls = { ca: join(dir, 'pki', 'tls', 'ca.crt'), cert: files.certFile, key: files.keyFile };
});
beforeEach(() => {
  saved = Object.fromEntries(VARIABLES.map((name) => [name, process.env[name]]));
  for (const name of VARIABLES) delete process.env[name];
});
afterEach(() => {
  for (const [name, value] of Object.entries(saved))
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
});

describe("a named deployment's Temporal", () => {
  it('is namespace default, in plain text, when nothing more is said', async () => {
    const deployment = await deploymentOf(named());
    expect(deployment.temporalNamespace).toBe('default');
    expect(deployment.temporalAccess).toEqual({});
  });

  it('takes the namespace from the option over its variable', async () => {
    process.env['UPROLL_TEMPORAL_NAMESPACE'] = 'from-env';
    expect((await deploymentOf(named())).temporalNamespace).toBe('from-env');
    expect((await deploymentOf({ ...named(), 'temporal-namespace': 'from-option' })).temporalNamespace).toBe(
      'from-option',
    );
  });

  it('refuses a namespace that is not a name, and a bad TLS variable', async () => {
    await expect(namedDeploymentOf({ ...named(), 'temporal-namespace': 'two words' })).rejects.toThrow(
      '--temporal-namespace ($UPROLL_TEMPORAL_NAMESPACE): must be a namespace name',
    );
    await expect(
      namedDeploymentOf({ ...named(), 'temporal-namespace': 'x'.repeat(256) }),
    ).rejects.toThrowWithCode('INVALID_INPUT');
    process.env['UPROLL_TEMPORAL_TLS'] = 'yes';
    await expect(namedDeploymentOf(named())).rejects.toThrow(
      '--temporal-tls ($UPROLL_TEMPORAL_TLS): must be 1 or 0',
    );
  });

  describe('when it speaks TLS', () => {
    it('verifies with the system CAs for --temporal-tls or $UPROLL_TEMPORAL_TLS=1', async () => {
      expect((await deploymentOf({ ...named(), 'temporal-tls': true })).temporalAccess).toEqual({ tls: {} });
      process.env['UPROLL_TEMPORAL_TLS'] = '1';
      expect((await deploymentOf(named())).temporalAccess).toEqual({ tls: {} });
    });

    it('takes a private CA, a client certificate and its key (mTLS) and a server name, each implying TLS', async () => {
      const access = (
        await deploymentOf({
          ...named(),
          'temporal-ca-file': tls.ca,
          'temporal-cert-file': tls.cert,
          'temporal-key-file': tls.key,
          'temporal-server-name': 'frontend.temporal.internal',
        })
      ).temporalAccess;
      expect(access.tls?.serverNameOverride).toBe('frontend.temporal.internal');
      expect(access.tls?.serverRootCACertificate?.toString()).toContain('BEGIN CERTIFICATE');
      expect(access.tls?.clientCertPair?.crt.toString()).toContain('BEGIN CERTIFICATE');
      expect(access.tls?.clientCertPair?.key.toString()).toContain('PRIVATE KEY');
    });

    it('refuses a client certificate without its key, as a usage error naming the missing one', async () => {
      const half = namedDeploymentOf({ ...named(), 'temporal-cert-file': tls.cert });
      await expect(half).rejects.toBeInstanceOf(UsageError);
      await expect(half).rejects.toThrow('missing: --temporal-key-file ($UPROLL_TEMPORAL_KEY)');
      process.env['UPROLL_TEMPORAL_KEY'] = tls.key;
      await expect(namedDeploymentOf(named())).rejects.toThrow(
        'missing: --temporal-cert-file ($UPROLL_TEMPORAL_CERT)',
      );
    });

    it('refuses files that are not what they should be, never quoting a key', async () => {
      const notPem = await fileWith('not.pem', 'SECRET-BYTES-NOT-PEM\n');
      await expect(deploymentOf({ ...named(), 'temporal-ca-file': notPem })).rejects.toThrow(
        `--temporal-ca-file ($UPROLL_TEMPORAL_CA) ${notPem} is not a PEM certificate`,
      );
      const badKey = deploymentOf({
        ...named(),
        'temporal-cert-file': tls.cert,
        'temporal-key-file': notPem,
      });
      await expect(badKey).rejects.toThrow('is not a PEM private key');
      await expect(badKey).rejects.not.toThrow('SECRET-BYTES');
      const huge = await fileWith('huge.pem', 'x'.repeat(1024 * 1024 + 1));
      await expect(deploymentOf({ ...named(), 'temporal-ca-file': huge })).rejects.toThrowWithCode(
        'INPUT_TOO_LARGE',
      );
      await expect(
        deploymentOf({ ...named(), 'temporal-ca-file': join(dir, 'nosuch.pem') }),
      ).rejects.toThrowWithCode('INVALID_INPUT');
    });
  });

  describe('with an API key', () => {
    it('reads it from its file and sends it over TLS only', async () => {
      const keyFile = await fileWith('api.key', `${API_KEY}\n`);
      const access = (await deploymentOf({ ...named(), 'temporal-api-key-file': keyFile })).temporalAccess;
      expect(access).toEqual({ tls: {}, apiKey: API_KEY });
      process.env['UPROLL_TEMPORAL_TLS'] = '0';
      const plain = namedDeploymentOf({ ...named(), 'temporal-api-key-file': keyFile });
      await expect(plain).rejects.toBeInstanceOf(UsageError);
      await expect(plain).rejects.toThrow('--temporal-tls ($UPROLL_TEMPORAL_TLS) turns TLS off');
    });

    it('refuses a key file others can read, one too large, and one that holds no key, never quoting it', async () => {
      const shared = await fileWith('shared.key', API_KEY, 0o644);
      const refused = deploymentOf({ ...named(), 'temporal-api-key-file': shared });
      await expect(refused).rejects.toThrow('is readable by others (mode 644)');
      await expect(refused).rejects.not.toThrow(API_KEY);
      const large = await fileWith('large.key', 'k'.repeat(16 * 1024 + 1));
      await expect(deploymentOf({ ...named(), 'temporal-api-key-file': large })).rejects.toThrowWithCode(
        'INPUT_TOO_LARGE',
      );
      const twoWords = await fileWith('words.key', 'two secret words');
      const notKey = deploymentOf({ ...named(), 'temporal-api-key-file': twoWords });
      await expect(notKey).rejects.toThrow('does not hold an API key');
      await expect(notKey).rejects.not.toThrow('secret');
    });
  });

  it('is refused as a usage error when no deployment is named: the local stack has none of it', async () => {
    process.env['UPROLL_TEMPORAL_NAMESPACE'] = 'uproll';
    const stray = namedDeploymentOf({ 'state-dir': dir });
    await expect(stray).rejects.toBeInstanceOf(UsageError);
    await expect(stray).rejects.toThrow(
      "--temporal-namespace ($UPROLL_TEMPORAL_NAMESPACE) says how to reach a deployment's Temporal",
    );
  });
});

describe('a deployment file', () => {
  it('names the whole deployment, its paths relative to the file', async () => {
    const file = await fileWith(
      'deployment.json',
      JSON.stringify({
        temporal: 'temporal.example.com:7233',
        nats: 'tls://nats.example.com:4222',
        'nats-seed-file': 'services.seed',
        'temporal-namespace': 'from-file',
        'temporal-tls': true,
      }),
    );
    const deployment = await deploymentOf({ 'state-dir': dir, 'deployment-file': file });
    expect(deployment).toMatchObject({
      temporal: 'temporal.example.com:7233',
      temporalNamespace: 'from-file',
      temporalAccess: { tls: {} },
      local: false,
    });
    // Named by the environment too.
    process.env['UPROLL_DEPLOYMENT_FILE'] = file;
    expect((await deploymentOf({ 'state-dir': dir })).temporalNamespace).toBe('from-file');
  });

  it('gives way to the variables, and they to the options', async () => {
    const file = await fileWith('ns.json', JSON.stringify({ 'temporal-namespace': 'from-file' }));
    const values = { ...named(), 'deployment-file': file };
    expect((await deploymentOf(values)).temporalNamespace).toBe('from-file');
    process.env['UPROLL_TEMPORAL_NAMESPACE'] = 'from-env';
    expect((await deploymentOf(values)).temporalNamespace).toBe('from-env');
    expect((await deploymentOf({ ...values, 'temporal-namespace': 'from-option' })).temporalNamespace).toBe(
      'from-option',
    );
  });

  it('says which setting of the file is wrong', async () => {
    const bad = await fileWith('bad.json', JSON.stringify({ temporal: 'no-port', 'nats-seed-file': 'x' }));
    await expect(namedDeploymentOf({ 'deployment-file': bad })).rejects.toThrow(
      `missing: --nats ($UPROLL_NATS)`,
    );
    const named3 = await fileWith(
      'named.json',
      JSON.stringify({ temporal: 'no-port', nats: 'nats://n:4222', 'nats-seed-file': 'x' }),
    );
    await expect(namedDeploymentOf({ 'deployment-file': named3 })).rejects.toThrow(
      `temporal in deployment file ${named3}: must be HOST:PORT`,
    );
  });

  it('refuses unknown keys, values of the wrong type, what is not JSON, and a file too large', async () => {
    const unknown = await fileWith(
      'unknown.json',
      JSON.stringify({ temporal_namespace: 'x', 'temporal-tls': 'yes' }),
    );
    const refused = namedDeploymentOf({ 'deployment-file': unknown });
    await expect(refused).rejects.toThrowWithCode('INVALID_INPUT');
    await expect(refused).rejects.toThrow('unknown key temporal_namespace');
    await expect(refused).rejects.toThrow('temporal-tls must be true or false');
    const notJson = await fileWith('not.json', 'UPROLL_TEMPORAL=x:1\n');
    await expect(namedDeploymentOf({ 'deployment-file': notJson })).rejects.toThrow('is not JSON');
    const array = await fileWith('array.json', '[]');
    await expect(namedDeploymentOf({ 'deployment-file': array })).rejects.toThrow('must be a JSON object');
    const large = await fileWith('large.json', JSON.stringify({ temporal: 'x'.repeat(70 * 1024) }));
    await expect(namedDeploymentOf({ 'deployment-file': large })).rejects.toThrowWithCode('INPUT_TOO_LARGE');
  });
});

describe('the help of the commands that reach Temporal', () => {
  it('names the Temporal options, their variables and the deployment file', async () => {
    for (const command of [
      ['serve'],
      ['worker'],
      ['api', 'serve'],
      ['rollout', 'status'],
      ['devices', 'list'],
    ]) {
      const io = captureIo();
      expect(await main([...command, '--help'], io)).toBe(0);
      for (const text of [
        '--temporal-namespace',
        '$UPROLL_TEMPORAL_NAMESPACE',
        '--temporal-tls',
        '--temporal-ca-file',
        '--temporal-cert-file',
        '--temporal-key-file',
        '--temporal-server-name',
        '--temporal-api-key-file',
        '--deployment-file',
        '$UPROLL_DEPLOYMENT_FILE',
      ])
        expect(io.stdout(), `${command.join(' ')}: ${text}`).toContain(text);
    }
  });
});
