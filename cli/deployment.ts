import { z } from 'zod';
import { UprollError } from '../core/index.ts';
import { isNatsCreds } from '../keys/index.ts';
import {
  localNatsTls,
  natsReplicasOf,
  readSettings,
  requireSettings,
  serviceCredentials,
  stackAddresses,
} from '../services/dev-stack/index.ts';
import { ownNatsClientTls, readNatsIdentity } from '../services/nats-auth/index.ts';
import type { TemporalAccess } from '../services/temporal/index.ts';
import { readCappedFile } from './capped-file.ts';
import { stateDirOf, UsageError, type OptionSpec } from './command.ts';
import { deploymentSettingsOf, labelOf, DEPLOYMENT_SETTINGS } from './deployment-settings.ts';
import {
  DEFAULT_NAMESPACE,
  readTemporalAccess,
  TEMPORAL_ACCESS_SETTINGS,
  temporalSettingsOf,
  type TemporalSettings,
} from './temporal-access.ts';
import { natsReplicasOption, natsReplicasSetting } from './deployment-storage.ts';

// Every command reaches Temporal and NATS through this file: the deployment named by
// --temporal/--nats/--nats-seed-file, else by $UPROLL_TEMPORAL/$UPROLL_NATS/$UPROLL_NATS_CREDS,
// else by the deployment file (cli/deployment-settings.ts, setting by setting),
// else the local stack of --state-dir (`uproll dev up`).

/** Where a deployment's Temporal and NATS are, and the services user's NATS credentials (.creds text or a seed). */
export interface Deployment {
  temporal: string;
  /** The Temporal namespace (`default` on the local stack). */
  temporalNamespace: string;
  /** TLS and API key of its Temporal (none on the local stack). Secret: the key and API key. */
  temporalAccess: TemporalAccess;
  nats: string;
  /** Secret: never print or log it. */
  natsCredentials: string;
  /** The local stack of the state directory, not a deployment named by options or the environment. */
  local: boolean;
  /** The CA NATS's server certificate is verified with (the local stack's unless it runs `--insecure`). */
  natsTls?: { caFile: string };
  /** Copies of each stream and bucket (`--nats-replicas`); undefined: 3 on a clustered server, else 1. */
  natsReplicas?: number;
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
  'temporal-namespace': {
    type: 'string',
    description: 'Temporal namespace of the deployment (or $UPROLL_TEMPORAL_NAMESPACE; default default)',
  },
  'temporal-tls': {
    type: 'boolean',
    description: "TLS to Temporal, verified with the system's CAs (or $UPROLL_TEMPORAL_TLS=1)",
  },
  'temporal-ca-file': {
    type: 'string',
    description:
      "the CA Temporal's certificate is verified with, if not a system one (or $UPROLL_TEMPORAL_CA)",
  },
  'temporal-cert-file': {
    type: 'string',
    description:
      'mTLS: client certificate (PEM) for Temporal, with --temporal-key-file (or $UPROLL_TEMPORAL_CERT)',
  },
  'temporal-key-file': {
    type: 'string',
    description: "mTLS: the client certificate's private key (PEM, mode 0600; or $UPROLL_TEMPORAL_KEY)",
  },
  'temporal-server-name': {
    type: 'string',
    description:
      "the name Temporal's certificate is checked for, if not its host (or $UPROLL_TEMPORAL_SERVER_NAME)",
  },
  'temporal-api-key-file': {
    type: 'string',
    description:
      'a file (mode 0600) holding a Temporal Cloud API key; implies TLS (or $UPROLL_TEMPORAL_API_KEY_FILE)',
  },
  'deployment-file': {
    type: 'string',
    description:
      'a JSON file of these settings, keyed by option name; options and variables win (or $UPROLL_DEPLOYMENT_FILE)',
  },
  ...natsReplicasOption,
} satisfies Record<string, OptionSpec>;

/** One help paragraph for every command that takes the deployment options. */
export const DEPLOYMENT_HELP =
  'It reaches the deployment --temporal, --nats and --nats-seed-file name (all three, or set\n' +
  '$UPROLL_TEMPORAL, $UPROLL_NATS and $UPROLL_NATS_CREDS), else the local stack of --state-dir.\n' +
  'A server that does not answer fails with TEMPORAL_UNREACHABLE or NATS_UNREACHABLE. --temporal-namespace,\n' +
  '--temporal-tls, --temporal-ca-file, --temporal-cert-file/--temporal-key-file, --temporal-server-name\n' +
  'and --temporal-api-key-file say how to reach its Temporal; --deployment-file names a JSON file of it all.\n' +
  'Streams and buckets keep --nats-replicas copies (3 by default when NATS is a cluster, else 1).';

/** The three that name a deployment; the others only say how to reach it. */
const SETTINGS = DEPLOYMENT_SETTINGS.filter(({ option }) =>
  (['temporal', 'nats', 'nats-seed-file'] as string[]).includes(option),
);

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

/** The addresses a deployment is named by and how to reach them, its credentials still in their files. */
export type NamedDeployment = z.infer<typeof namedSchema> & {
  natsCaFile?: string;
  temporalSettings: TemporalSettings;
  /** Copies of each stream and bucket, when named. */
  natsReplicas?: number;
};

/**
 * The deployment the options (else the environment, else the deployment
 * file) name, or undefined when none is (the local stack). Half of one is a
 * UsageError, refused before anything changes, as are Temporal settings
 * without one; a malformed address INVALID_INPUT.
 */
export async function namedDeploymentOf(
  values: Record<string, unknown>,
): Promise<NamedDeployment | undefined> {
  const settings = await deploymentSettingsOf(values);
  const given = SETTINGS.map(({ option }) => settings[option]);
  if (given.every((value) => value === undefined)) {
    // TLS turned off is what the local stack has: not a setting it lacks.
    const stray = TEMPORAL_ACCESS_SETTINGS.flatMap((name) => settings[name] ?? []).filter(
      (setting) => setting !== settings['temporal-tls'] || setting.value !== '0',
    );
    if (stray.length > 0)
      throw new UsageError(
        `${stray.map((s) => s.label).join(', ')} ${stray.length > 1 ? 'say' : 'says'} how to reach a deployment's Temporal: name it with ` +
          "--temporal, --nats and --nats-seed-file too (the local stack's is namespace default, without TLS)",
      );
    return undefined;
  }
  const missing = SETTINGS.filter((_, i) => given[i] === undefined);
  if (missing.length > 0)
    throw new UsageError(
      '--temporal, --nats and --nats-seed-file go together (or none, for the local stack); missing: ' +
        missing.map(labelOf).join(', '),
    );
  const [temporal, nats, natsCredsFile] = given.map((setting) => setting?.value);
  const parsed = namedSchema.safeParse({ temporal, nats, natsCredsFile });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const setting = given[['temporal', 'nats', 'natsCredsFile'].indexOf(String(issue?.path[0]))];
    const name = setting ? setting.label : 'the deployment';
    throw new UprollError('INVALID_INPUT', `${name}: ${issue?.message ?? 'invalid'}`);
  }
  const natsCaFile = settings['nats-ca-file'];
  const natsReplicas = natsReplicasSetting(settings['nats-replicas']);
  if (natsCaFile && natsCaFile.value.length > MAX_SETTING_CHARS)
    throw new UprollError('INVALID_INPUT', `${natsCaFile.label} must name a file`);
  return {
    ...parsed.data,
    ...(natsCaFile ? { natsCaFile: natsCaFile.value } : {}),
    temporalSettings: temporalSettingsOf(settings),
    ...(natsReplicas !== undefined ? { natsReplicas } : {}),
  };
}

/**
 * The deployment a command reaches, with the services' credentials: the one
 * named, else the local stack (STACK_NOT_RUNNING when there is none).
 */
export async function deploymentOf(values: Record<string, unknown>): Promise<Deployment> {
  const named = await namedDeploymentOf(values);
  if (!named) return localDeployment(stateDirOf(values));
  const caFile = named.natsCaFile ?? (await stateDirNatsCa(stateDirOf(values), named.nats));
  const { natsReplicas } = named;
  return {
    temporal: named.temporal,
    temporalNamespace: named.temporalSettings.namespace,
    temporalAccess: await readTemporalAccess(named.temporalSettings),
    nats: named.nats,
    natsCredentials: await readCredentialsFile(named.natsCredsFile),
    local: false,
    ...(caFile ? { natsTls: { caFile } } : {}),
    ...(natsReplicas !== undefined ? { natsReplicas } : {}),
  };
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
  return (
    (await namedDeploymentOf(values)) !== undefined || (await readSettings(stateDirOf(values))) !== undefined
  );
}

/** The deployment of the local stack under `stateDir` (`uproll dev up`). */
export async function localDeployment(stateDir: string): Promise<Deployment> {
  const settings = await requireSettings(stateDir);
  const addresses = stackAddresses(settings);
  const natsTls = await localNatsTls(stateDir);
  return {
    temporal: addresses.temporal,
    temporalNamespace: DEFAULT_NAMESPACE,
    temporalAccess: {},
    nats: addresses.nats,
    natsCredentials: await serviceCredentials(stateDir),
    local: true,
    ...(natsTls ? { natsTls } : {}),
    natsReplicas: natsReplicasOf(settings),
  };
}

/** The services user's credentials: a .creds file (as `uproll nats init` writes it) or a bare user seed. */
async function readCredentialsFile(file: string): Promise<string> {
  const text = await readCappedFile(file, { label: '--nats-seed-file', maxBytes: MAX_CREDENTIALS_BYTES });
  const credentials = text.toString('utf8').trim();
  if (!isNatsCreds(credentials) && !/^SU[A-Z2-7]{56}$/.test(credentials))
    throw new UprollError(
      'INVALID_INPUT',
      `--nats-seed-file ${file} does not hold NATS user credentials (a .creds file, or a user nkey seed)`,
    );
  return credentials;
}
