import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// The system's Node on this kind of machine is older than Uproll needs; `npm run setup` installs Node 24
// into .uproll/tools. `node bin/uproll.js` (the README's way) must then work with the system's `node`.
const SYSTEM_NODE = '/usr/bin/node';
const systemNodeIsOld =
  existsSync(SYSTEM_NODE) &&
  Number(execFileSync(SYSTEM_NODE, ['-p', 'process.versions.node.split(".")[0]']).toString()) < 22;

describe('the uproll entry point', () => {
  it.runIf(systemNodeIsOld)("runs on the project's Node when the system's is too old", () => {
    const result = spawnSync(SYSTEM_NODE, ['bin/uproll.js', 'serve', '--help'], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Run the Uproll services against a Temporal and a NATS');
  });
});
