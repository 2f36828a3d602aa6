// Entry of the agent-only bundle: what bin/uproll-agent.js does, minus type stripping.
import { main } from '../../cli/agent/main.ts';

// The reader of our output went away (`uproll-agent --help | head`): stop quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(process.exitCode ?? 0);
});
process.exit(await main(process.argv.slice(2)));
