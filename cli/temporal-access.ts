import { createPrivateKey, X509Certificate } from 'node:crypto';
import { UprollError } from '../core/index.ts';
import type { TemporalAccess } from '../services/temporal/index.ts';
import { readCappedFile } from './capped-file.ts';
import { UsageError } from './command.ts';
import type { DeploymentSettingName, DeploymentSettings, SettingValue } from './deployment-settings.ts';

// A named deployment's Temporal beyond its address: the namespace, and TLS (system CAs or a
// private one, a client certificate for mTLS, a server name) or a Temporal Cloud API key, which
// is only ever sent over TLS. The key and the API key are read from files and never quoted.

/** Temporal namespace names Uproll takes: a DNS-like name, as Temporal Cloud's `name.account`. */
const NAMESPACE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;
const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/;
const MAX_PEM_BYTES = 1024 * 1024;
const MAX_KEY_BYTES = 64 * 1024;
/** Temporal Cloud API keys are JWTs of a kilobyte or two. */
const MAX_API_KEY_BYTES = 16 * 1024;

/** The namespace when none is named, and the local stack's. */
export const DEFAULT_NAMESPACE = 'default';

/** The Temporal settings of a named deployment, validated, its files not read yet. */
export interface TemporalSettings {
  namespace: string;
  /** TLS on: asked for, or implied by a CA, a certificate, a server name or an API key. */
  tls: boolean;
  caFile?: SettingValue;
  cert?: { certFile: SettingValue; keyFile: SettingValue };
  serverName?: string;
  apiKeyFile?: SettingValue;
}

/** The settings that only a named deployment takes (the local stack's Temporal has none of them). */
export const TEMPORAL_ACCESS_SETTINGS: readonly DeploymentSettingName[] = [
  'temporal-namespace',
  'temporal-tls',
  'temporal-ca-file',
  'temporal-cert-file',
  'temporal-key-file',
  'temporal-server-name',
  'temporal-api-key-file',
];

const TLS_IMPLIED_BY: readonly DeploymentSettingName[] = [
  'temporal-ca-file',
  'temporal-cert-file',
  'temporal-server-name',
  'temporal-api-key-file',
];

/**
 * The Temporal settings among `settings`: every malformed one in one
 * INVALID_INPUT; a certificate without its key (or the reverse), or TLS
 * turned off beside what needs it, a UsageError.
 */
export function temporalSettingsOf(settings: DeploymentSettings): TemporalSettings {
  const problems: string[] = [];
  const namespace = settings['temporal-namespace'];
  if (namespace && !NAMESPACE.test(namespace.value))
    problems.push(`${namespace.label}: must be a namespace name (1-255 of A-Z a-z 0-9 . _ -)`);
  const serverName = settings['temporal-server-name'];
  if (serverName && !SERVER_NAME.test(serverName.value))
    problems.push(`${serverName.label}: must be a host name`);
  if (problems.length > 0) throw new UprollError('INVALID_INPUT', problems.join('; '));

  const [certFile, keyFile] = [settings['temporal-cert-file'], settings['temporal-key-file']];
  if ((certFile === undefined) !== (keyFile === undefined))
    throw new UsageError(
      '--temporal-cert-file and --temporal-key-file go together (mTLS: a client certificate and its key); missing: ' +
        (certFile
          ? '--temporal-key-file ($UPROLL_TEMPORAL_KEY)'
          : '--temporal-cert-file ($UPROLL_TEMPORAL_CERT)'),
    );
  const implying = TLS_IMPLIED_BY.flatMap((name) => settings[name] ?? []);
  const tls = settings['temporal-tls'];
  if (tls?.value === '0' && implying.length > 0)
    throw new UsageError(
      `${tls.label} turns TLS off, which ${implying.map((s) => s.label).join(', ')} need${implying.length > 1 ? '' : 's'}`,
    );
  return {
    namespace: namespace?.value ?? DEFAULT_NAMESPACE,
    tls: tls?.value === '1' || implying.length > 0,
    ...(settings['temporal-ca-file'] ? { caFile: settings['temporal-ca-file'] } : {}),
    ...(certFile && keyFile ? { cert: { certFile, keyFile } } : {}),
    ...(serverName ? { serverName: serverName.value } : {}),
    ...(settings['temporal-api-key-file'] ? { apiKeyFile: settings['temporal-api-key-file'] } : {}),
  };
}

/** Reads the files the settings name: INPUT_TOO_LARGE past a file's cap, INVALID_INPUT for what is not PEM or a key. */
export async function readTemporalAccess(settings: TemporalSettings): Promise<TemporalAccess> {
  if (!settings.tls) return {};
  const ca = settings.caFile ? await readCertificates(settings.caFile) : undefined;
  const cert = settings.cert
    ? {
        crt: await readCertificates(settings.cert.certFile),
        key: await readPrivateKey(settings.cert.keyFile),
      }
    : undefined;
  const apiKey = settings.apiKeyFile ? await readApiKey(settings.apiKeyFile) : undefined;
  return {
    tls: {
      ...(ca ? { serverRootCACertificate: ca } : {}),
      ...(cert ? { clientCertPair: cert } : {}),
      ...(settings.serverName ? { serverNameOverride: settings.serverName } : {}),
    },
    ...(apiKey !== undefined ? { apiKey } : {}),
  };
}

async function readCertificates(setting: SettingValue): Promise<Buffer> {
  const pem = await readCappedFile(setting.value, { label: setting.label, maxBytes: MAX_PEM_BYTES });
  try {
    new X509Certificate(pem);
  } catch {
    throw new UprollError('INVALID_INPUT', `${setting.label} ${setting.value} is not a PEM certificate`);
  }
  return pem;
}

async function readPrivateKey(setting: SettingValue): Promise<Buffer> {
  const pem = await readCappedFile(setting.value, {
    label: setting.label,
    maxBytes: MAX_KEY_BYTES,
    secret: true,
  });
  try {
    createPrivateKey(pem);
  } catch {
    // Never quote the file: it may hold a key after all.
    throw new UprollError('INVALID_INPUT', `${setting.label} ${setting.value} is not a PEM private key`);
  }
  return pem;
}

async function readApiKey(setting: SettingValue): Promise<string> {
  const key = (
    await readCappedFile(setting.value, {
      label: setting.label,
      maxBytes: MAX_API_KEY_BYTES,
      secret: true,
    })
  )
    .toString('utf8')
    .trim();
  // One token of visible ASCII: it becomes an HTTP/2 header value.
  if (!/^[\x21-\x7e]+$/.test(key))
    throw new UprollError(
      'INVALID_INPUT',
      `${setting.label} ${setting.value} does not hold an API key (one line of visible ASCII)`,
    );
  return key;
}
