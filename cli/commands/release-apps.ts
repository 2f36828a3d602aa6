import { readFile, stat } from 'node:fs/promises';
import { z } from 'zod';
import { appFieldsSchema, parseJson, UprollError } from '../../core/index.ts';
import { readOciLayout, type AppRelease } from '../../services/image-repo/index.ts';
import { UsageError, type OptionSpec } from '../command.ts';

const MAX_APP_CONFIG_BYTES = 64 * 1024;

/** `--app` and `--app-config` of `release revision`. */
export const appOptions = {
  app: {
    type: 'string',
    multiple: true,
    description: 'NAME=OCI_LAYOUT_DIR[:TAG]: an app from a local OCI image layout (repeat for several)',
  },
  'app-config': {
    type: 'string',
    description: 'JSON file {"<app>": {command, env, volumes, restart, after, health}} for the --app apps',
  },
} satisfies Record<string, OptionSpec>;

/** How an app runs, as `--app-config` gives it: the revision's app fields but its image. */
const appSettingsSchema = z.record(
  z.string(),
  appFieldsSchema.omit({ name: true, image: true, blobs: true }).partial({ restart: true }),
);

/**
 * The apps `--app NAME=DIR[:TAG]` name, each image read from its OCI
 * layout (every blob checked against its digest) with its settings from
 * `--app-config`. A setting for an app not named is refused.
 */
export async function appsOf(values: Record<string, unknown>): Promise<AppRelease[]> {
  const specs = (values['app'] as string[] | undefined) ?? [];
  const settings = typeof values['app-config'] === 'string' ? await readSettings(values['app-config']) : {};
  const apps: AppRelease[] = [];
  for (const spec of specs) {
    const match = /^([^=]+)=(.+?)(?::([A-Za-z0-9_][A-Za-z0-9._-]{0,127}))?$/.exec(spec);
    if (!match) throw new UsageError(`--app ${spec}: expected NAME=OCI_LAYOUT_DIR[:TAG]`);
    const [, name, dir, tag] = match as unknown as [string, string, string, string | undefined];
    apps.push({ name, image: await readOciLayout(dir, tag), ...settings[name] });
  }
  const unknown = Object.keys(settings).filter((name) => !apps.some((app) => app.name === name));
  if (unknown.length > 0)
    throw new UsageError(`--app-config names apps no --app gives: ${unknown.join(', ')}`);
  return apps;
}

async function readSettings(file: string) {
  const size = await stat(file).then(
    (s) => s.size,
    () => {
      throw new UprollError('FILE_NOT_FOUND', `${file} does not exist`);
    },
  );
  if (size > MAX_APP_CONFIG_BYTES)
    throw new UprollError('INPUT_TOO_LARGE', `${file} is over ${MAX_APP_CONFIG_BYTES} bytes`);
  return parseJson(appSettingsSchema, await readFile(file), { maxBytes: MAX_APP_CONFIG_BYTES, what: file });
}
