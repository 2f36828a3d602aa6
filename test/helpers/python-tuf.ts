import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** The python of the venv `npm run setup` installs python-tuf into; UPROLL_PYTHON names another. */
export const PYTHON =
  process.env['UPROLL_PYTHON'] ?? fileURLToPath(new URL('../../.uproll/venv/bin/python', import.meta.url));

/** The interop scripts, one file each under test/interop/python/. */
export const scriptPath = (name: string) =>
  fileURLToPath(new URL(`../interop/python/${name}`, import.meta.url));

/** Generous: a python start on a loaded machine, not a measure of anything. */
const PYTHON_TIMEOUT_MS = 20_000;
/** For a beforeAll that checks python-tuf and runs a script or two. */
export const SETUP_TIMEOUT_MS = 60_000;

export interface PythonRun {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a python script of test/interop/python/ with the venv's python; never throws on a non-zero exit. */
export function runPython(script: string, args: readonly string[]): Promise<PythonRun> {
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      [scriptPath(script), ...args],
      {
        timeout: PYTHON_TIMEOUT_MS,
        maxBuffer: 4 * 1024 * 1024,
        // The servers are on 127.0.0.1: a proxy of the environment must not see them.
        env: { ...process.env, NO_PROXY: '127.0.0.1', no_proxy: '127.0.0.1', PYTHONDONTWRITEBYTECODE: '1' },
      },
      (err, stdout, stderr) => {
        if (!err) return resolve({ status: 0, stdout, stderr });
        if (typeof err.code === 'number' && !err.killed) return resolve({ status: err.code, stdout, stderr });
        // Not started, or killed at the timeout: no outcome of the script to check.
        reject(new Error(`${script}: ${err.message}\n${stderr}`, { cause: err }));
      },
    );
  });
}

/**
 * The python-tuf version of the venv. Throws (the test fails, it is not
 * skipped) when setup has not installed it: the interop is part of `npm test`.
 */
export async function requirePythonTuf(): Promise<string> {
  const missing = `python-tuf is not installed at ${PYTHON}: run \`npm run setup\` (scripts/setup.sh makes .uproll/venv from test/interop/python/requirements.txt) or point UPROLL_PYTHON at a python that has it`;
  try {
    await access(PYTHON, constants.X_OK);
  } catch {
    throw new Error(missing);
  }
  const run = await runPython('tuf_version.py', []);
  if (run.status !== 0) throw new Error(`${missing}\n${run.stderr}`);
  return run.stdout.trim();
}
