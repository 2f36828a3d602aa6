import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { DASHBOARD_DIST } from '../../services/api/dashboard-files.ts';

const here = fileURLToPath(new URL('../../dashboard/', import.meta.url));

/** Bundles the dashboard (Preact, from npm) into `dist/`: nothing is fetched when it runs. */
export async function buildDashboard(outDir: string = DASHBOARD_DIST): Promise<void> {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [join(here, 'src/main.tsx')],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outfile: join(outDir, 'app.js'),
    logLevel: 'warning',
  });
  for (const file of ['index.html', 'style.css']) await copyFile(join(here, file), join(outDir, file));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildDashboard();
  console.log(`dashboard built in ${DASHBOARD_DIST}`);
}
