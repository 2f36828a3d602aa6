import { readFile, stat } from 'node:fs/promises';
import { z } from 'zod';
import { UprollError } from '../core/index.ts';
import { isNatsCreds } from '../keys/index.ts';
import {
  localNatsTls,
  readSettings,
  requireSettings,
  serviceCredentials,
  stackAddresses,
} from '../services/dev-stack/index.ts';
import { ownNatsClientTls, readNatsIdentity } from '../services/nats-auth/index.ts';
import { stateDirOf, UsageError, type OptionSpec } from './command.ts';

// Every command reaches Temporal and NATS through this file: the deployment named by
// --temporal/--nats/--nats-seed-file, else by $UPROLL_TEMPORAL/$UPROLL_NATS/$UPROLL_NATS_CREDS,
// else the local stack of --state-dir (`uproll dev up`).

/** Where a deployment's Temporal and NATS are, and the services user's NATS credentials (.creds text or a seed). */
export interface Deployment {
  temporal: string;
  nats: string;
  /** Secret: never print or log it. */
  natsCredentials: string;
  /** The local stack of the state directory, not a deployment named by options or the environment. */
  local: boolean;
  /** The CA NATS's server certificate is verified with (the local stack's unless it runs `--insecure`). */
  natsTls?: { caFile: string };
}

/** `--temporal`, `--nats`, `--nats-seed-file`: the deployment a command reaches. */
export const deploymentOptions = {
  temporal: {
    type: 'string',
    description:
      'Temporal frontend HOST:PORT of the deployment (or $UPROLL_TEMPORAL; default: the local stack)',
  },
  nats: {
    type: 'string',
    description: 'NATS server URL(s) of the deployment, comma-separated (or $UPROLL_NATS)',
  },
  'nats-seed-file': {
    type: 'string',
    description:
      "the services user's NATS .creds file, <state-dir>/nats/services.creds (or $UPROLL_NATS_CREDS)",
  },
  'nats-ca-file': {
    type: 'string',
    description:
      "the CA NATS's TLS certificate is verified with, if not a system one (or $UPROLL_NATS_CA; e.g. <state-dir>/tls/ca.crt)",
  },
} satisfies Record<string, OptionSpec>;

/** One help paragraph for every command that takes the deployment options. */
export const DEPLOYMENT_HELP =
  'It reaches the deployment --temporal, --nats and --nats-seed-file name (all three, or set\n' +
  '$UPROLL_TEMPORAL, $UPROLL_NATS and $UPROLL_NATS_CREDS), else the local stack of --state-dir.\n' +
  'A server that does not answer fails with TEMPORAL_UNREACHABLE or NATS_UNREACHABLE.';

const SETTINGS = [
  { option: 'temporal', env: 'UPROLL_TEMPORAL' },
  { option: 'nats', env: 'UPROLL_NATS' },
  { option: 'nats-seed-file', env: 'UPROLL_NATS_CREDS' },
] as const;

const MAX_SETTING_CHARS = 2048;
/** A .creds file is under a kilobyte; anything much larger is not one. */
const MAX_CREDENTIALS_BYTES = 64 * 1024;
const HOST_PORT = /^[A-Za-z0-9.[\]:-]+:\d{1,5}$/;
const NATS_SERVER = /^((nats|tls|ws|wss):\/\/)?[A-Za-z0-9.[\]:-]+(:\d{1,5})?$/;

const namedSchema = z.object({
  temporal: z.string().max(MAX_SETTING_CHARS).regex(HOST_PORT, 'must be HOST:PORT'),
  nats: z
    .string()
    .max(MAX_SETTING_CHARS)
    .refine((urls) => urls.split(',').every((url) => NATS_SERVER.test(url.trim())), {
      message: 'must be NATS URLs (nats://HOST:PORT), comma-separated',
    }),
  natsCredsFile: z.string().min(1).max(MAX_SETTING_CHARS),
});

/** The addresses a deployment is named by, its credentials still in their file. */
export type NamedDeployment = z.infer<typeof namedSchema>;

/**
 * The deployment the options (else the environment) name, or undefined when
 * none is (the local stack). Half of one is a UsageError, refused before
 * anything changes; a malformed address INVALID_INPUT.
 */
export function namedDeploymentOf(values: Record<string, unknown>): NamedDeployment | undefined {
  const given = SETTINGS.map(({ option, env }) => {
    const value = values[option];
    return typeof value === 'string' ? value : process.env[env] || undefined;
  });
  if (given.every((value) => value === undefined)) return undefined;
  const missing = SETTINGS.filter((_, i) => given[i] === undefined);
  if (missing.length > 0)
    throw new UsageError(
      '--temporal, --nats and --nats-seed-file go together (or none, for the local stack); missing: ' +
        missing.map(({ option, env }) => `--${option} ($${env})`).join(', '),
    );
  const [temporal, nats, natsCredsFile] = given;
  const parsed = namedSchema.safeParse({ temporal, nats, natsCredsFile });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const setting = SETTINGS[['temporal', 'nats', 'natsCredsFile'].indexOf(String(issue?.path[0]))];
    const name = setting ? `--${setting.option} ($${setting.env})` : 'the deployment';
    throw new UprollError('INVALID_INPUT', `${name}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/**
 * The deployment a command reaches, with the services' credentials: the one
 * named, else the local stack (STACK_NOT_RUNNING when there is none).
 */
export async function deploymentOf(values: Record<string, unknown>): Promise<Deployment> {
  const named = namedDeploymentOf(values);
  if (!named) return localDeployment(stateDirOf(values));
  const caFile = natsCaFileOf(values) ?? (await stateDirNatsCa(stateDirOf(values), named.nats));
  return {
    temporal: named.temporal,
    nats: named.nats,
    natsCredentials: await readCredentialsFile(named.natsCredsFile),
    local: false,
    ...(caFile ? { natsTls: { caFile } } : {}),
  };
}

/** `--nats-ca-file` (else $UPROLL_NATS_CA): a private CA for a named deployment's NATS. */
function natsCaFileOf(values: Record<string, unknown>): string | undefined {
  const file =
    typeof values['nats-ca-file'] === 'string'
      ? values['nats-ca-file']
      : process.env['UPROLL_NATS_CA'] || undefined;
  if (file !== undefined && (file.length === 0 || file.length > MAX_SETTING_CHARS))
    throw new UprollError('INVALID_INPUT', '--nats-ca-file ($UPROLL_NATS_CA) must name a file');
  return file;
}

/**
 * The state dir's server CA, when the named NATS is the one `uproll nats init`
 * recorded and `uproll nats config` gave it a certificate from that CA: so
 * serve, worker and the CLI verify the operator's server with no --nats-ca-file.
 */
async function stateDirNatsCa(stateDir: string, nats: string): Promise<string | undefined> {
  const identity = await readNatsIdentity(stateDir).catch(() => undefined);
  if (!identity?.servers || !sameServers(identity.servers, nats)) return undefined;
  return (await ownNatsClientTls(stateDir))?.caFile;
}

function sameServers(a: string, b: string): boolean {
  const list = (urls: string) =>
    urls
      .split(',')
      .map((url) => url.trim())
      .sort()
      .join(',');
  return list(a) === list(b);
}

/** Whether the options name a deployment or a local stack was set up: somewhere to send the audit outbox. */
export async function hasDeployment(values: Record<string, unknown>): Promise<boolean> {
  return namedDeploymentOf(values) !== undefined || (await readSettings(stateDirOf(values))) !== undefined;
}

/** The deployment of the local stack under `stateDir` (`uproll dev up`). */
export async function localDeployment(stateDir: string): Promise<Deployment> {
  const addresses = stackAddresses(await requireSettings(stateDir));
  const natsTls = await localNatsTls(stateDir);
  return {
    temporal: addresses.temporal,
    nats: addresses.nats,
    natsCredentials: await serviceCredentials(stateDir),
    local: true,
    ...(natsTls ? { natsTls } : {}),
  };
}

/** The services user's credentials: a .creds file (as `uproll nats init` writes it) or a bare user seed. */
async function readCredentialsFile(file: string): Promise<string> {
  const bytes = await stat(file).then(
    (s) => s.size,
    () => 0,
  );
  if (bytes > MAX_CREDENTIALS_BYTES)
    throw new UprollError(
      'INPUT_TOO_LARGE',
      `--nats-seed-file ${file} is larger than ${MAX_CREDENTIALS_BYTES} bytes`,
    );
  const text = await readFile(file, 'utf8').catch((err: unknown) => {
    throw new UprollError('INVALID_INPUT', `cannot read --nats-seed-file ${file}: ${(err as Error).message}`);
  });
  const credentials = text.trim();
  if (!isNatsCreds(credentials) && !/^SU[A-Z2-7]{56}$/.test(credentials))
    throw new UprollError(
      'INVALID_INPUT',
      `--nats-seed-file ${file} does not hold NATS user credentials (a .creds file, or a user nkey seed)`,
    );
  return credentials;
}
