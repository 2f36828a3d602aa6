// A throwaway CA and a signer it issued, as SWUpdate and RAUC verify their updates
// (CMS signatures checked against a CA certificate; S/MIME purpose, both tools' default).
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Writes ca.crt, ca.key, signer.crt and signer.key into `dir`. */
export async function makeSigningCa(dir: string): Promise<void> {
  const key = (name: string) => ['-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`];
  tool(
    'openssl',
    [
      'req',
      '-x509',
      ...key('ca'),
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=uproll bench CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign',
    ],
    dir,
  );
  tool('openssl', ['req', ...key('signer'), '-out', 'signer.csr', '-subj', '/CN=uproll bench signer'], dir);
  await writeFile(
    join(dir, 'signer.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\n',
  );
  tool(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      'signer.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'signer.crt',
      '-days',
      '2',
      '-extfile',
      'signer.ext',
    ],
    dir,
  );
}

/** Runs a tool to completion; throws with its stderr when it fails. */
export function tool(command: string, args: string[], cwd?: string): void {
  const run = spawnSync(command, args, { cwd, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${run.stderr || run.error}`);
}

/** Why `tools` cannot run here (the first missing one, with its Debian package), or undefined. */
export function missingTool(tools: readonly (readonly [string, string, string])[]): string | undefined {
  for (const [command, arg, pkg] of tools)
    if (spawnSync(command, [arg]).status !== 0) return `${command} is not installed (Debian package ${pkg})`;
  return undefined;
}
