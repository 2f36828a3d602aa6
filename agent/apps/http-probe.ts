import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { HttpProbe } from '../../core/index.ts';

const exec = promisify(execFile);

/**
 * A GET to 127.0.0.1:port, sent by a short-lived Node process that prints
 * the status code. It runs in the app's network namespace (each container
 * has its own): the agent cannot reach the app's loopback from the host's.
 */
const PROBE_SCRIPT = `
const [port, path, ms] = process.argv.slice(1);
const request = require('node:http').get({ host: '127.0.0.1', port: Number(port), path, timeout: Number(ms) }, (response) => {
  response.resume();
  process.stdout.write(String(response.statusCode));
  process.exit(0);
});
request.on('timeout', () => process.exit(2));
request.on('error', () => process.exit(1));
`;

/**
 * Whether the app whose container init is `pid` answers `probe` within
 * `timeoutMs`: the status it names, or any 2xx. No answer, a refused
 * connection or a timeout all count as a failed attempt.
 */
export async function httpProbePasses(pid: number, probe: HttpProbe, timeoutMs: number): Promise<boolean> {
  try {
    const { stdout } = await exec(
      'nsenter',
      [
        `--target=${pid}`,
        '--net',
        '--',
        process.execPath,
        '-e',
        PROBE_SCRIPT,
        String(probe.port),
        probe.path,
        String(timeoutMs),
      ],
      // The agent's own NODE_OPTIONS (loaders, inspectors) are not the probe's business.
      { timeout: timeoutMs + 5000, maxBuffer: 1024, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' } },
    );
    const status = Number(stdout.trim());
    return probe.status === undefined ? status >= 200 && status < 300 : status === probe.status;
  } catch {
    return false;
  }
}
