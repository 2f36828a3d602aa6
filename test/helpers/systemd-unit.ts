import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

/** The agent's unit as shipped in the repository. */
export const AGENT_UNIT = new URL('../../device/systemd/uproll-agent.service', import.meta.url).pathname;

/** What `systemd-analyze verify` said of a unit: its exit status and every line it printed. */
export interface UnitVerdict {
  code: number;
  problems: string[];
}

/**
 * Runs `systemd-analyze verify` on the unit text `unit` installed as `name`
 * in a temporary root holding the host's stock units and an executable at
 * each path in `executables` (what ExecStart= names), never the host's own
 * /etc. systemd-analyze exits 0 on a key it ignores, so any line it prints
 * counts as a problem too. A template (`name@.service`) is verified as one of
 * its instances, `instance` (systemd-analyze cannot verify a template itself).
 */
export async function verifyUnit(
  name: string,
  unit: string,
  executables: readonly string[],
  instance?: string,
): Promise<UnitVerdict> {
  const root = await mkdtemp(join(tmpdir(), 'uproll-unit-'));
  try {
    await cp('/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true });
    for (const path of executables) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), '#!/bin/sh\n');
      await chmod(join(root, path), 0o755);
    }
    await mkdir(join(root, 'etc/systemd/system'), { recursive: true });
    await writeFile(join(root, 'etc/systemd/system', name), unit);
    const { code, stderr, stdout } = await promisify(execFile)(
      'systemd-analyze',
      ['verify', `--root=${root}`, instance === undefined ? name : name.replace('@.', `@${instance}.`)],
      { encoding: 'utf8' },
    ).then(
      (done) => ({ code: 0, ...done }),
      (err: { code?: number | string; stdout?: string; stderr?: string }) => {
        if (err.code === 'ENOENT') throw new Error('systemd-analyze is missing: install the systemd package');
        return { code: Number(err.code ?? 1), stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
      },
    );
    const problems = `${stdout}${stderr}`
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => line.replace(root, '<root>'));
    return { code, problems };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** The `Key=value` settings of one `[section]` of a unit file, in order (a key may repeat). */
export function unitSettings(unit: string, section: string): [string, string][] {
  const settings: [string, string][] = [];
  let current = '';
  for (const raw of unit.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) current = header[1]!;
    else if (current === section) {
      const at = line.indexOf('=');
      settings.push([line.slice(0, at), line.slice(at + 1)]);
    }
  }
  return settings;
}
