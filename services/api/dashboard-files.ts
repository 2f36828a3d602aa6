import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Env, Hono } from 'hono';

/** Where `npm run build:dashboard` puts the dashboard, in this checkout. */
export const DASHBOARD_DIST = fileURLToPath(new URL('../../dashboard/dist/', import.meta.url));

/** The files of the built dashboard and how each is served. */
const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.js.map': 'application/json',
  'style.css': 'text/css; charset=utf-8',
};

/** Only the dashboard's own files: no script, style or frame from anywhere else. */
const HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/**
 * Serves the dashboard built in `dir` (`npm run build:dashboard`; setup builds
 * it) at `/`: static files, read once, public (the page asks for a token and
 * calls the API with it). Without a build, `/` says how to make one.
 */
export async function serveDashboard<E extends Env>(app: Hono<E>, dir: string): Promise<void> {
  const files = new Map<string, Buffer>();
  for (const name of Object.keys(FILES)) {
    const bytes = await readFile(join(dir, name)).catch(() => undefined);
    if (bytes) files.set(name, bytes);
  }
  app.get('/', (c) => c.redirect('/dashboard/', 302));
  app.get('/dashboard/:file{.*}', (c) => {
    const name = c.req.param('file') || 'index.html';
    const bytes = files.get(name);
    if (!files.has('index.html'))
      return c.text('the dashboard is not built: run `npm run build:dashboard`', 503);
    if (!bytes || !FILES[name]) return c.text('not found', 404);
    return c.body(new Uint8Array(bytes), 200, { ...HEADERS, 'content-type': FILES[name] });
  });
}
