import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { UprollError } from '../core/index.ts';
import { ensureServerTls, type ServerKeyPair } from '../services/tls/index.ts';
import { stateDirOf, UsageError, type OptionSpec } from './command.ts';
import { readCappedFile } from './capped-file.ts';
import { systemClock } from './system-clock.ts';

/** `--tls-cert`/`--tls-key`, `--tls-host`, `--insecure`: how the HTTP parts of `serve` speak TLS. */
export const serverTlsOptions = {
  'tls-cert': {
    type: 'string',
    description:
      "PEM certificate (chain) of the HTTPS servers (default: one from the deployment's server CA)",
  },
  'tls-key': { type: 'string', description: 'its PEM private key (mode 0600)' },
  'tls-host': {
    type: 'string',
    description: 'host names clients reach the servers by, comma-separated, for the issued certificate',
  },
  insecure: { type: 'boolean', description: 'plain HTTP, for development only' },
} satisfies Record<string, OptionSpec>;

const MAX_PEM_BYTES = 1024 * 1024;
const HOST_NAME = /^[A-Za-z0-9.:-]{1,253}$/;

/** `--tls-host a.example.com,10.0.0.5`: host names or addresses for a certificate. */
export function tlsHostsOf(values: Record<string, unknown>): string[] {
  const value = values['tls-host'];
  if (typeof value !== 'string') return [];
  const hosts = value
    .split(',')
    .map((host) => host.trim())
    .filter(Boolean);
  const bad = hosts.find((host) => !HOST_NAME.test(host));
  if (bad !== undefined || hosts.length > 64)
    throw new UprollError(
      'INVALID_INPUT',
      `--tls-host takes up to 64 host names or addresses; not ${bad ?? 'that many'}`,
    );
  return hosts;
}

/**
 * The key pair the HTTP parts serve with: the operator's (`--tls-cert` and
 * `--tls-key`), else one for `host`, loopback and `--tls-host` from the
 * deployment's server CA (which device bundles carry). Undefined only with
 * `--insecure`.
 */
export async function serverKeyPairOf(
  values: Record<string, unknown>,
  host: string,
): Promise<ServerKeyPair | undefined> {
  const [certFile, keyFile] = [values['tls-cert'], values['tls-key']];
  if (values['insecure'] === true) {
    if (certFile !== undefined || keyFile !== undefined)
      throw new UsageError('--insecure serves plain HTTP: it takes no --tls-cert or --tls-key');
    return undefined;
  }
  if (typeof certFile === 'string' && typeof keyFile === 'string')
    return { cert: await readPem(certFile, '--tls-cert'), key: await readKey(keyFile) };
  if (certFile !== undefined || keyFile !== undefined)
    throw new UsageError('--tls-cert and --tls-key go together');
  const files = await ensureServerTls(stateDirOf(values), {
    hosts: [host, ...tlsHostsOf(values)],
    now: systemClock(),
  });
  return { cert: await readFile(files.certFile, 'utf8'), key: await readFile(files.keyFile, 'utf8') };
}

async function readPem(file: string, option: string): Promise<string> {
  const text = (await readCappedFile(file, { label: option, maxBytes: MAX_PEM_BYTES })).toString('utf8');
  if (option === '--tls-cert') {
    try {
      new X509Certificate(text);
    } catch {
      throw new UprollError('INVALID_INPUT', `--tls-cert ${file} is not a PEM certificate`);
    }
  }
  return text;
}

async function readKey(file: string): Promise<string> {
  const text = (
    await readCappedFile(file, { label: '--tls-key', maxBytes: MAX_PEM_BYTES, secret: true })
  ).toString('utf8');
  try {
    createPrivateKey(text);
  } catch {
    // Never quote the file: it may hold a key after all.
    throw new UprollError('INVALID_INPUT', `--tls-key ${file} is not a PEM private key`);
  }
  return text;
}
