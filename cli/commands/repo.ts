import { once } from 'node:events';
import { startRepositoryServer } from '../../services/image-repo/index.ts';
import { portOption, type Command } from '../command.ts';
import { imageRepoDir, locationOptions } from '../locations.ts';

export const repoServe: Command = {
  name: 'repo serve',
  summary: 'Serve the Image repository over HTTP (metadata and targets) until stopped.',
  usage: 'uproll repo serve [--repo DIR] [--host H] [--port N] [--json]',
  options: {
    repo: locationOptions.repo,
    host: { type: 'string', description: 'address to listen on (default 127.0.0.1)' },
    port: { type: 'string', description: 'port (default 18080)' },
  },
  async run({ values }, io) {
    const server = await startRepositoryServer({
      dir: imageRepoDir(values),
      host: typeof values['host'] === 'string' ? values['host'] : '127.0.0.1',
      port: portOption(values, 'port') ?? 18080,
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
