import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main as uproll } from '../../cli/main.ts';
import type { KeyRecord } from '../../keys/index.ts';
import { captureIo } from '../cli-io.ts';

export const OFFLINE_ENV = 'TEST_OFFLINE_PASSPHRASE';
export const ONLINE_ENV = 'TEST_ONLINE_PASSPHRASE';
/** Both passphrase options, for commands that may need the offline and the online keys. */
export const BOTH_PASSPHRASES = [
  '--offline-passphrase-env',
  OFFLINE_ENV,
  '--online-passphrase-env',
  ONLINE_ENV,
];

/**
 * The `uproll` command on a state directory of its own, with the key
 * passphrases in the environment: `init()` runs `keys init`.
 */
export async function keyCli() {
  const stateDir = await mkdtemp(join(tmpdir(), 'uproll-cli-keys-'));
  process.env[OFFLINE_ENV] = 'offline passphrase';
  process.env[ONLINE_ENV] = 'online passphrase';
  const run = async (...argv: string[]) => {
    const io = captureIo();
    const status = await uproll([...argv, '--state-dir', stateDir], io);
    return { status, stdout: io.stdout(), stderr: io.stderr() };
  };
  return {
    stateDir,
    run,
    init: () => run('keys', 'init', ...BOTH_PASSPHRASES, '--json'),
    /** What `keys list --json` prints. */
    keys: async () => JSON.parse((await run('keys', 'list', '--json')).stdout) as KeyRecord[],
    /** The signed part of a metadata file of the Image repository (or of the Director's roots). */
    metadata: async (file: string, repository: 'image-repo' | 'director' = 'image-repo') =>
      (
        JSON.parse(
          await readFile(
            join(stateDir, repository, repository === 'director' ? 'root' : 'metadata', file),
            'utf8',
          ),
        ) as { signed: { version: number; roles: Record<string, { keyids: string[] }> } }
      ).signed,
  };
}
