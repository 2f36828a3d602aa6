// Uproll runs its TypeScript sources directly with Node's type stripping
// (on by default from Node 22.18; 22.12-22.17 need a flag, so re-run with it).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

/** The Node 24 that `npm run setup` installs when the system's is too old. */
const PROJECT_NODE = new URL('../.uproll/tools/node/bin/node', import.meta.url).pathname;

/** Runs `main(argv)` of the TypeScript module at `entry` (relative to bin/) and exits with its status. */
export async function runTypeScriptMain(entry) {
  if (!process.features.typescript) {
    const [major, minor] = process.versions.node.split('.').map(Number);
    if ((major < 22 || (major === 22 && minor < 12)) && existsSync(PROJECT_NODE)) {
      // An old system Node: run again on the project's own, as `npm run uproll` would.
      return runAgain(PROJECT_NODE, process.argv.slice(1));
    }
    if (major < 22 || (major === 22 && minor < 12)) {
      console.error(
        `node ${process.versions.node} is too old: Node >= 22.12 is required (run \`npm run setup\`)`,
      );
      process.exit(1);
    }
    return runAgain(process.execPath, ['--experimental-strip-types', ...process.argv.slice(1)]);
  }
  // A reader of stdout or stderr that goes away (`uproll ... | head`) must not crash the command.
  const { surviveClosedPipes } = await import(new URL('../cli/closed-pipe.ts', import.meta.url).href);
  surviveClosedPipes();
  const { main } = await import(new URL(entry, import.meta.url).href);
  // Exit once main is done: a long-running command (serve, worker) has closed what it opened,
  // but the Temporal runtime it installed keeps the event loop alive.
  process.exit(await main(process.argv.slice(2)));
}

/** Runs the same command on another Node, passing stop signals on (`kill` reaches the parent only). */
function runAgain(node, args) {
  const env = { ...process.env };
  // A service manager's watchdog set up for this process (WATCHDOG_PID): the child does the
  // work, so it is the one to ping (sd_watchdog_enabled(3) ignores a watchdog for another pid).
  if (env.WATCHDOG_PID === String(process.pid)) delete env.WATCHDOG_PID;
  const child = spawn(node, args, { stdio: 'inherit', env });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
