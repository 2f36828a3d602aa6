import { once } from 'node:events';
import { startRepositoryServer } from '../../services/image-repo/index.ts';
import { portOption, type Command } from '../command.ts';
import { imageRepoDir, locationOptions } from '../locations.ts';
import { serverKeyPairOf, serverTlsOptions } from '../server-tls.ts';

export const repoServe: Command = {
  name: 'repo serve',
  summary: 'Serve the Image repository over HTTPS (metadata and targets) until stopped.',
  usage:
    'uproll repo serve [--repo DIR] [--host H] [--port N] [--tls-cert FILE --tls-key FILE | --tls-host NAME,... | --insecure] [--json]',
  details:
    "HTTPS with --tls-cert and --tls-key, else with a certificate from the deployment's server CA\n" +
    '(<state-dir>/tls/ca.crt, which device bundles carry); plain HTTP only with --insecure.',
  options: {
    repo: locationOptions.repo,
    ...serverTlsOptions,
    host: { type: 'string', description: 'address to listen on (default 127.0.0.1)' },
    port: { type: 'string', description: 'port (default 18080)' },
  },
  async run({ values }, io) {
    const host = typeof values['host'] === 'string' ? values['host'] : '127.0.0.1';
    const server = await startRepositoryServer({
      dir: imageRepoDir(values),
      host,
      port: portOption(values, 'port') ?? 18080,
      tls: await serverKeyPairOf(values, host),
    });
    io.out(
      values.json
        ? JSON.stringify({
            metadataUrl: server.metadataUrl,
            targetsUrl: server.targetsUrl,
            ostreeUrl: server.ostreeUrl,
          })
        : `serving ${server.metadataUrl}, ${server.targetsUrl} and ${server.ostreeUrl}`,
    );
    await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
    await server.close();
    return 0;
  },
};
