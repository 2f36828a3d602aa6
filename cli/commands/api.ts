import { once } from 'node:events';
import { createPublicKey } from 'node:crypto';
import { UprollError } from '../../core/index.ts';
import type { KeyStore } from '../../keys/index.ts';
import { roleKeys, roleSigners } from '../../keys/index.ts';
import { issueApiToken, managementRoutes, startApiServer } from '../../services/api/index.ts';
import { readSettings, serviceIdentity, stackAddresses } from '../../services/dev-stack/index.ts';
import { DirectorRepository } from '../../services/director/index.ts';
import { ImageRepository } from '../../services/image-repo/index.ts';
import { connectToNats, ensureStreams, EventLog } from '../../services/nats/index.ts';
import { portOption, stateDirOf, UsageError, type Command } from '../command.ts';
import { passphraseOptions, readPassphrase } from '../passphrase.ts';
import { directorDir, imageRepoDir, locationOptions, openKeyStore } from '../locations.ts';
import { systemClock } from '../system-clock.ts';

async function apiKey(store: KeyStore) {
  const [record] = await roleKeys(store, 'fleet', 'api');
  if (!record) throw new UprollError('UNKNOWN_KEY', `no API token key in ${store.dir}: run uproll keys init`);
  return record;
}

export const apiToken: Command = {
  name: 'api token',
  summary: 'Issue a short-lived signed token for one person and one role (security or release).',
  usage: 'uproll api token --role security|release --subject NAME [--ttl SECONDS] [--json]',
  options: {
    keystore: locationOptions.keystore,
    role: { type: 'string', description: 'security (key operations) or release (publish, roll out)' },
    subject: { type: 'string', description: 'who the token is for (kept in the audit trail)' },
    ttl: { type: 'string', description: 'lifetime in seconds (default 900, at most 28800)' },
    ...passphraseOptions('', 'online key'),
  },
  async run({ values }, io) {
    const role = values['role'];
    const subject = values['subject'];
    if ((role !== 'security' && role !== 'release') || typeof subject !== 'string') {
      throw new UsageError('--role security|release and --subject NAME are required');
    }
    const store = openKeyStore(values, { onlineOnly: true });
    const key = await store.privateKey(
      (await apiKey(store)).keyId,
      await readPassphrase(values, '', 'online key'),
    );
    const token = await issueApiToken({
      subject,
      role: role,
      ttlSeconds: Number(values['ttl'] ?? 900),
      key,
      now: new Date(),
    });
    io.out(values.json ? JSON.stringify({ token }) : token);
    return 0;
  },
};

export const apiServe: Command = {
  name: 'api serve',
  summary: 'Serve the management API (keys, devices, releases) for people with tokens, until stopped.',
  usage: 'uproll api serve [--port N] [--passphrase-env NAME] [--json]',
  details:
    'Refused calls are appended to the event log (uproll.evt.api.management) when the local stack runs.',
  options: {
    ...locationOptions,
    port: { type: 'string', description: 'port (default 18090)' },
    ...passphraseOptions('', 'online key'),
  },
  async run({ values }, io) {
    const store = openKeyStore(values, { onlineOnly: true });
    const passphrase = await readPassphrase(values, '', 'online key');
    const tokenKey = createPublicKey(await store.privateKey((await apiKey(store)).keyId, passphrase));
    const settings = await readSettings(stateDirOf(values));
    const nc = settings
      ? await connectToNats({
          servers: stackAddresses(settings).nats,
          nkeySeed: (await serviceIdentity(stateDirOf(values))).seed,
          name: 'uproll-api',
        })
      : undefined;
    if (nc) await ensureStreams(nc);
    const eventLog = nc ? new EventLog(nc) : undefined;
    const server = await startApiServer({
      tokenKey,
      now: systemClock,
      port: portOption(values, 'port') ?? 18090,
      routes: managementRoutes({
        store,
        image: new ImageRepository(imageRepoDir(values)),
        director: new DirectorRepository(directorDir(values)),
        releaseSigners: async () => ({
          releases: await roleSigners(store, 'image', 'releases', passphrase),
          snapshot: await roleSigners(store, 'image', 'snapshot', passphrase),
          timestamp: await roleSigners(store, 'image', 'timestamp', passphrase),
        }),
        now: systemClock,
      }),
      onRefused: async (call) => {
        io.err(
          `refused ${call.method} ${call.path}: ${call.code}${call.subject ? ` (${call.subject}, ${call.role})` : ''}`,
        );
        await eventLog?.append(
          {
            aggregate: 'api',
            aggregateId: 'management',
            type: 'api.call.refused',
            at: new Date().toISOString(),
            data: call,
          },
          { msgId: `api-refused/${Date.now()}/${Math.random()}` },
        );
      },
    });
    io.out(values.json ? JSON.stringify({ url: server.url }) : `management API on ${server.url}/api`);
    await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
    await server.close();
    await nc?.drain();
    return 0;
  },
};
