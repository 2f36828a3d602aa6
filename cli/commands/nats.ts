import { mkdir } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { UprollError } from '../../core/index.ts';
import { natsServersOf, sendAccountUpdate } from '../../services/dev-stack/index.ts';
import { writeFileAtomic } from '../../adapters/fs/index.ts';
import {
  accountOf,
  initNatsIdentity,
  natsIdentityPaths,
  natsServerAuthOf,
  recordOwnNatsTls,
  renderNatsAuthInclude,
  renderNatsServerConfig,
  requireNatsIdentity,
  systemAccountOf,
} from '../../services/nats-auth/index.ts';
import { portOption, stateDirOf, UsageError, type Command } from '../command.ts';
import { serverKeyPairOf } from '../server-tls.ts';
import { systemClock } from '../system-clock.ts';

export const natsInit: Command = {
  name: 'nats init',
  summary:
    "Create the deployment's NATS identity (operator, accounts, services user) for your own nats-server.",
  usage: 'uproll nats init --url URL[,URL...] [--json]',
  details: [
    'NATS runs in decentralized JWT mode: nats-server trusts an operator, the operator signs the UPROLL',
    'account (JetStream enabled) and a system account, and each device is a user signed by the account',
    "signing key, confined to its own subjects. So provisioning a device never changes the server's",
    'configuration; revoking one sends the account (with its revocations) to the server as the system user.',
    '',
    'Writes, in <state-dir>/nats/ (directory 0700, files 0600; no seed is ever printed):',
    '  identity.json   the operator, account, signing-key and system-account seeds and their JWTs',
    '  services.creds  the services user: `uproll serve --nats-seed-file <state-dir>/nats/services.creds`',
    '  system.creds    the system user that sends account updates (revocations)',
    '--url is where devices and services reach the server (put in every device bundle). Running init again',
    'keeps the keys and only records a new --url. Next: `uproll nats config --out FILE`.',
  ].join('\n'),
  options: {
    url: {
      type: 'string',
      description: 'NATS URL(s) devices and services use, e.g. nats://nats.example.com:4222',
    },
  },
  async run({ values }, io) {
    const servers = natsUrls(values['url']);
    const stateDir = stateDirOf(values);
    const { identity, created } = await initNatsIdentity(stateDir, { clock: systemClock, servers });
    const paths = natsIdentityPaths(stateDir);
    const summary = {
      created,
      servers,
      account: accountOf(identity),
      systemAccount: systemAccountOf(identity),
      servicesCredentials: paths.servicesCreds,
    };
    if (values.json) io.out(JSON.stringify(summary));
    else
      io.out(
        [
          `${created ? 'created the' : 'kept the existing'} NATS identity in ${paths.dir}; devices and services reach ${servers}`,
          `  account         ${summary.account} (UPROLL, JetStream)`,
          `  system account  ${summary.systemAccount}`,
          `  services user   ${paths.servicesCreds} (for uproll serve --nats-seed-file)`,
          'next: uproll nats config --out FILE, then start (or reload) nats-server with it',
        ].join('\n'),
      );
    return 0;
  },
};

export const natsConfig: Command = {
  name: 'nats config',
  summary: 'Write a nats-server configuration that trusts this deployment (no secrets in it).',
  usage:
    'uproll nats config --out FILE [--include] [--host H] [--port N] [--monitor-port N] [--store-dir DIR] [--resolver-dir DIR] [--server-name NAME] [--tls-host NAME,... | --tls-cert FILE --tls-key FILE | --insecure] [--json]',
  details: [
    'Without --include: a whole configuration (client port, JetStream, the operator, the accounts) for',
    '`nats-server -c FILE`. With --include: only the trust settings (operator, system_account, resolver,',
    'resolver_preload) for an `include` line in your own configuration, which must enable JetStream.',
    'The resolver (type full) keeps the account JWTs it is sent in --resolver-dir, so revocations pushed',
    'by `uproll devices revoke` survive restarts. Adding or revoking devices needs no new file and no reload;',
    'writing the file again is safe at any time (an older account preload never undoes a newer revocation).',
    'Paths are made absolute; the server must be able to write --store-dir and --resolver-dir.',
    '',
    'Clients must speak TLS (a `tls` block, in the include too): the certificate and key are written beside',
    'FILE (FILE without its extension, .crt and .key; the key 0600, so nats-server must run as its owner).',
    "By default the certificate is issued from the deployment's server CA (<state-dir>/tls/ca.crt, which",
    'device bundles carry and serve, worker and the CLI trust for the --url of `uproll nats init`) for',
    '127.0.0.1, ::1, localhost, --host and --tls-host; --tls-cert/--tls-key copy your own instead (clients',
    'then verify it with a system CA or --nats-ca-file). --insecure: plain text, for development only.',
  ].join('\n'),
  options: {
    out: { type: 'string', description: 'file to write (mode 0644; it holds public JWTs only)' },
    include: { type: 'boolean', description: 'write only the trust settings, to include in your own config' },
    host: { type: 'string', description: 'address nats-server listens on (default 0.0.0.0)' },
    port: { type: 'string', description: 'client port (default 4222)' },
    'monitor-port': { type: 'string', description: 'HTTP monitoring port (default: none)' },
    'store-dir': { type: 'string', description: 'JetStream storage (default /var/lib/nats/jetstream)' },
    'resolver-dir': {
      type: 'string',
      description: 'account JWTs the server keeps (default /var/lib/nats/accounts)',
    },
    'server-name': { type: 'string', description: 'server_name (default uproll)' },
    'tls-host': {
      type: 'string',
      description: 'more host names clients reach the server by, comma-separated, for its certificate',
    },
    'tls-cert': {
      type: 'string',
      description: "your own PEM certificate (chain) for the server (default: from the deployment's CA)",
    },
    'tls-key': { type: 'string', description: 'its PEM private key (mode 0600)' },
    insecure: { type: 'boolean', description: 'no TLS: plain text, for development only' },
  },
  async run({ values }, io) {
    if (typeof values['out'] !== 'string') throw new UsageError('--out FILE is required');
    const out = resolve(values['out']);
    const stateDir = stateDirOf(values);
    const identity = await requireNatsIdentity(stateDir);
    const auth = natsServerAuthOf(identity);
    const resolverDir = resolve(stringOption(values, 'resolver-dir') ?? '/var/lib/nats/accounts');
    const host = stringOption(values, 'host') ?? '0.0.0.0';
    // Everything that can refuse (the options, the operator's key pair) is checked before writing.
    const port = portOption(values, 'port') ?? 4222;
    const keyPair = await serverKeyPairOf(values, host);
    const tls = keyPair && { certFile: withExtension(out, '.crt'), keyFile: withExtension(out, '.key') };
    await mkdir(dirname(out), { recursive: true }); // e.g. /etc/nats on a new server
    if (keyPair && tls) {
      await writeFileAtomic(tls.keyFile, keyPair.key, { mode: 0o600 });
      await writeFileAtomic(tls.certFile, keyPair.cert, { mode: 0o644 });
    }
    const text = values['include']
      ? renderNatsAuthInclude(auth, resolverDir, tls)
      : renderNatsServerConfig({
          serverName: stringOption(values, 'server-name') ?? 'uproll',
          host,
          port,
          ...(values['monitor-port'] !== undefined
            ? { monitorPort: portOption(values, 'monitor-port') }
            : {}),
          storeDir: resolve(stringOption(values, 'store-dir') ?? '/var/lib/nats/jetstream'),
          resolverDir,
          auth,
          ...(tls ? { tls } : {}),
        });
    await writeFileAtomic(out, text, { mode: 0o644 });
    await recordOwnNatsTls(stateDir, {
      tls: tls !== undefined,
      stateCa: tls !== undefined && !values['tls-cert'],
    });
    io.out(
      values.json
        ? JSON.stringify({
            out,
            include: values['include'] === true,
            account: accountOf(identity),
            ...(tls ? { tls } : { tls: false }),
          })
        : `wrote ${values['include'] ? 'the trust settings for an include' : 'a nats-server configuration'} to ${out}` +
            (tls ? `, TLS with ${tls.certFile} and ${tls.keyFile}` : ', plain text (--insecure)'),
    );
    return 0;
  },
};

export const natsPush: Command = {
  name: 'nats push',
  summary: "Send the account's current JWT (its revocations) to the deployment's NATS again.",
  usage: 'uproll nats push [--json]',
  details:
    'For when `uproll devices revoke` could not reach the server (NATS_UPDATE_FAILED): the revocation\n' +
    'was recorded, and this sends it. Connects as the system user to the URL of `uproll nats init`\n' +
    '(or the running local stack).',
  options: {},
  async run({ values }, io) {
    const stateDir = stateDirOf(values);
    const identity = await requireNatsIdentity(stateDir);
    const servers = await natsServersOf(stateDir, identity);
    if (!servers)
      throw new UprollError(
        'NATS_NOT_INITIALIZED',
        'no NATS address known: run `uproll nats init --url URL`',
      );
    await sendAccountUpdate(stateDir);
    io.out(
      values.json
        ? JSON.stringify({ servers, revocations: Object.keys(identity.revocations).length })
        : `sent the account (${Object.keys(identity.revocations).length} revoked keys) to ${servers}`,
    );
    return 0;
  },
};

/** `/etc/nats/uproll.conf` -> `/etc/nats/uproll.crt`: the TLS files sit beside the configuration. */
function withExtension(file: string, extension: string): string {
  return join(dirname(file), basename(file, extname(file)) + extension);
}

function stringOption(values: Record<string, unknown>, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** `--url`: NATS URLs or host:port, comma-separated. */
function natsUrls(value: unknown): string {
  if (typeof value !== 'string')
    throw new UsageError('--url is required: where devices and services reach NATS');
  if (value.length > 4096) throw new UprollError('INPUT_TOO_LARGE', '--url is longer than 4096 characters');
  const urls = value.split(',').map((url) => url.trim());
  for (const url of urls) {
    const parsed = URL.canParse(url) ? new URL(url) : undefined;
    const hostPort = /^[A-Za-z0-9.-]+:\d{1,5}$/.test(url);
    if (
      !hostPort &&
      !(parsed && /^(nats|tls):$/.test(parsed.protocol) && parsed.hostname && !parsed.username)
    )
      throw new UprollError(
        'INVALID_INPUT',
        `--url ${JSON.stringify(url)} is not a NATS URL (nats://host:port, tls://host:port or host:port)`,
      );
  }
  return urls.join(',');
}
