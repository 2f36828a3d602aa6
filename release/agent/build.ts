// npm run build:agent — the device's install of the agent: one bundled file that
// plain Node 24 runs (no type stripping, no node_modules), a launcher that passes
// the memory settings, and a package.json so the directory can be `npm pack`ed.
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launcherScript } from './launcher.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENTRY = fileURLToPath(new URL('./entry.ts', import.meta.url));
export const DEFAULT_OUT_DIR = join(ROOT, 'dist', 'agent');
export const BUNDLE_NAME = 'uproll-agent.mjs';
export const LAUNCHER_NAME = 'uproll-agent';

/**
 * Code that must never reach a device: Temporal, the servers, the operator's CLI,
 * tests and dev tools (every devDependency is added to this list from package.json).
 */
const FORBIDDEN = [
  /node_modules\/@temporalio\//,
  /^(workflows|activities|sim|bench|test)\//,
  /^services\/temporal\//,
  /^cli\/(commands\/|main\.ts|fleet-services\.ts|rollout-worker\.ts)/,
];

export interface AgentBuild {
  dir: string;
  bundle: string;
  launcher: string;
  /** Bytes of each file of the install, by name. */
  files: Record<string, number>;
  /** Bytes the bundle holds of each package or project folder, largest first. */
  parts: [string, number][];
}

/** Thrown when the bundle cannot be built or would carry code a device must not get. */
export class AgentBuildError extends Error {
  override name = 'AgentBuildError';
}

/** Builds the agent's device install into `outDir` (emptied first). */
export async function buildAgent(outDir: string = DEFAULT_OUT_DIR): Promise<AgentBuild> {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
    engines?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const bundle = join(outDir, BUNDLE_NAME);
  const metafile = join(outDir, '..', `.${LAUNCHER_NAME}-meta-${process.pid}.json`);
  let meta: Metafile;
  try {
    runEsbuild([
      ENTRY,
      '--bundle',
      '--platform=node',
      '--format=esm',
      '--target=node24',
      // CommonJS dependencies call require(): give the ES module one.
      "--banner:js=import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      // Smaller file, less to read and parse on the device; names kept for readable stack traces.
      '--minify',
      '--keep-names',
      '--legal-comments=none',
      '--log-level=warning',
      `--metafile=${metafile}`,
      `--outfile=${bundle}`,
    ]);
    meta = JSON.parse(await readFile(metafile, 'utf8')) as Metafile;
    refuseForbidden(Object.keys(meta.inputs), Object.keys(pkg.devDependencies ?? {}));
  } finally {
    await rm(metafile, { force: true });
  }
  const parts = partsOf(meta);
  const launcher = join(outDir, LAUNCHER_NAME);
  await writeFile(launcher, launcherScript(BUNDLE_NAME));
  await chmod(launcher, 0o755);
  await writeFile(
    join(outDir, 'package.json'),
    `${JSON.stringify(
      {
        name: 'uproll-agent',
        version: pkg.version,
        description: 'The Uproll device agent, bundled: no dependencies but Node itself.',
        license: 'Apache-2.0',
        type: 'module',
        bin: { 'uproll-agent': LAUNCHER_NAME },
        files: [BUNDLE_NAME, LAUNCHER_NAME],
        engines: { node: '>=24' },
      },
      null,
      2,
    )}\n`,
  );
  const files: Record<string, number> = {};
  for (const name of [BUNDLE_NAME, LAUNCHER_NAME, 'package.json'])
    files[name] = (await stat(join(outDir, name))).size;
  return { dir: outDir, bundle, launcher, files, parts };
}

/** esbuild's own CLI, found the way Node finds any package (node_modules, or NODE_PATH). */
function runEsbuild(args: string[]): void {
  let cli: string;
  try {
    cli = createRequire(import.meta.url).resolve('esbuild/bin/esbuild');
  } catch {
    throw new AgentBuildError('esbuild is not installed (it is a devDependency: npm install)');
  }
  const run = spawnSync(cli, args, { cwd: ROOT, encoding: 'utf8' });
  if (run.status !== 0)
    throw new AgentBuildError(`esbuild failed (${run.status ?? run.signal}): ${run.stderr || run.error}`);
}

function refuseForbidden(inputs: string[], devDependencies: string[]): void {
  const dev = devDependencies.map((name) => `node_modules/${name}/`);
  const bad = inputs.filter(
    (input) => FORBIDDEN.some((re) => re.test(input)) || dev.some((d) => input.includes(d)),
  );
  if (bad.length)
    throw new AgentBuildError(`the agent bundle would carry code a device must not get: ${bad.join(', ')}`);
}

/** What esbuild says it read and wrote (the parts of its metafile used here). */
interface Metafile {
  inputs: Record<string, unknown>;
  outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
}

/** Bytes of the bundle by npm package (`zod`, `@nats-io/jetstream`) or project folder (`agent`). */
function partsOf(meta: Metafile): [string, number][] {
  const totals = new Map<string, number>();
  for (const output of Object.values(meta.outputs))
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1];
      const part = pkg ?? input.split('/')[0] ?? input;
      totals.set(part, (totals.get(part) ?? 0) + bytesInOutput);
    }
  return [...totals].sort((a, b) => b[1] - a[1]);
}

if (import.meta.main) {
  const built = await buildAgent(process.argv[2] ?? DEFAULT_OUT_DIR);
  for (const [name, bytes] of Object.entries(built.files))
    console.log(`${join(built.dir, name)}  ${bytes} bytes`);
}
