import { z } from 'zod';

/** Largest OCI blob (a layer) an app may name: a sanity bound, not a policy. */
export const MAX_APP_BLOB_BYTES = 2 ** 34;
/** Apps per revision. */
export const MAX_APPS = 32;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');
/** App and volume names: they become container ids and directory names, so plain tokens only. */
const appNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,47}$/, 'must be 1-48 of a-z 0-9 _ - (not first)');
const argSchema = z.string().min(1).max(4096);
/** An absolute path inside the container, plain segments only (no `.`/`..`). */
const mountPathSchema = z
  .string()
  .max(256)
  .regex(/^(\/[A-Za-z0-9._-]+)+$/, 'must be an absolute path of plain segments')
  .refine((path) => path.split('/').every((segment) => !/^\.+$/.test(segment)), 'must not use . or ..');

/** How often and how long a probe is tried before the app counts as unhealthy. */
const probeTries = {
  timeoutMs: z.int().min(1).max(600_000).default(10_000),
  attempts: z.int().min(1).max(60).default(10),
  intervalMs: z.int().min(0).max(60_000).default(500),
};

/**
 * An HTTP GET the agent sends to `127.0.0.1:port` inside the app's own
 * network namespace: it passes when the answer has `status` (default: any
 * 2xx). `path` is a plain URL path with an optional query, no host part.
 */
export const httpProbeSchema = z
  .object({
    port: z.int().min(1).max(65535),
    path: z
      .string()
      .max(1024)
      .regex(
        /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$/,
        'must be a plain URL path',
      )
      .default('/'),
    status: z.int().min(100).max(599).optional(),
  })
  .strict();
export type HttpProbe = z.infer<typeof httpProbeSchema>;

/**
 * What decides that an app reached its goal after a start: it kept running
 * for `runningForMs`, `exec` (run inside its container) exited 0, or an
 * `http` GET inside its network namespace got the expected status.
 */
export const appHealthSchema = z.union([
  z.object({ runningForMs: z.int().min(0).max(600_000) }).strict(),
  z.object({ exec: z.array(argSchema).min(1).max(64), ...probeTries }).strict(),
  z.object({ http: httpProbeSchema, ...probeTries }).strict(),
]);
export type AppHealth = z.infer<typeof appHealthSchema>;

/**
 * One app of a state revision: an OCI image named by the sha256 of its
 * manifest, run as a container. `blobs` lists every blob of the image
 * (manifest, config, layers) with its length: each is an ordinary object of
 * the Image repository, so the device fetches and verifies them like
 * artifacts, and a layer two apps or two revisions share is stored and
 * downloaded once.
 */
export const appFieldsSchema = z
  .object({
    name: appNameSchema,
    image: z.object({ manifest: sha256 }).strict(),
    blobs: z
      .array(z.object({ sha256, length: z.int().min(0).max(MAX_APP_BLOB_BYTES) }).strict())
      .min(2)
      .max(128),
    /** Replaces the image's Entrypoint and Cmd. */
    command: z.array(argSchema).min(1).max(256).optional(),
    /** Added to (and over) the image's environment. */
    env: z
      .record(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment name'),
        z.string().max(4096),
      )
      .refine((env) => Object.keys(env).length <= 128, 'at most 128 variables')
      .optional(),
    /** Persistent app data, kept across versions and rollbacks. */
    volumes: z
      .array(z.object({ name: appNameSchema, path: mountPathSchema }).strict())
      .max(16)
      .refine((list) => new Set(list.map((v) => v.name)).size === list.length, 'volume names must be unique')
      .refine((list) => new Set(list.map((v) => v.path)).size === list.length, 'mount paths must be unique')
      .optional(),
    restart: z.enum(['always', 'on-failure', 'no']).default('no'),
    /** Apps started before this one. */
    after: z.array(appNameSchema).max(MAX_APPS).optional(),
    health: appHealthSchema.optional(),
  })
  .strict();
/** {@link appFieldsSchema} whose blob list holds its manifest. */
export const appSchema = appFieldsSchema.refine(
  (app) => app.blobs.some((blob) => blob.sha256 === app.image.manifest),
  {
    message: 'blobs must list the image manifest',
    path: ['blobs'],
  },
);
export type App = z.infer<typeof appSchema>;
export type AppInput = z.input<typeof appSchema>;

/** The apps of a revision: unique names, `after` naming apps of the revision, no cycles. */
export const appsSchema = z
  .array(appSchema)
  .max(MAX_APPS)
  .superRefine((apps, ctx) => {
    const names = new Set(apps.map((app) => app.name));
    if (names.size !== apps.length) ctx.addIssue({ code: 'custom', message: 'app names must be unique' });
    for (const [i, app] of apps.entries())
      for (const name of app.after ?? [])
        if (!names.has(name))
          ctx.addIssue({
            code: 'custom',
            path: [i, 'after'],
            message: `names no app of the revision: ${name}`,
          });
    if (startOrder(apps) === undefined)
      ctx.addIssue({ code: 'custom', message: 'the apps\u2019 `after` lists form a cycle' });
  });

/**
 * The apps in an order that starts each after those it names in `after`
 * (ties keep the revision's order), or undefined when they form a cycle.
 */
export function startOrder<T extends Pick<App, 'name' | 'after'>>(apps: readonly T[]): T[] | undefined {
  const order: T[] = [];
  const placed = new Set<string>();
  const known = new Set(apps.map((app) => app.name));
  // Each pass places at least one app, or there is a cycle: at most apps.length passes.
  for (let pass = 0; pass < apps.length && order.length < apps.length; pass++) {
    const before = order.length;
    for (const app of apps) {
      if (placed.has(app.name)) continue;
      if ((app.after ?? []).every((name) => placed.has(name) || !known.has(name))) {
        order.push(app);
        placed.add(app.name);
      }
    }
    if (order.length === before) return undefined;
  }
  return order.length === apps.length ? order : undefined;
}

/** The object path label an app blob is fetched and checked under (error messages say which app it is). */
export function appBlobLabel(app: Pick<App, 'name'>, sha: string): string {
  return `apps/${app.name}/${sha}`;
}
