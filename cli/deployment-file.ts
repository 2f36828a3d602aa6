import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { UprollError } from '../core/index.ts';
import { readCappedFile } from './capped-file.ts';

// A deployment file (--deployment-file, $UPROLL_DEPLOYMENT_FILE) holds the deployment settings a
// systemd unit or a compose service would otherwise repeat as options or variables: one JSON
// object, keyed by the option names, e.g.
//   {"temporal": "temporal.example.com:7233", "temporal-namespace": "uproll",
//    "temporal-tls": true, "nats": "tls://nats.example.com:4222", "nats-seed-file": "services.creds"}
// Paths in it are relative to the file's directory. It names files of secrets, never a secret.

/** Far above any deployment's settings: a larger file is not one. */
const MAX_DEPLOYMENT_FILE_BYTES = 64 * 1024;
const MAX_VALUE_CHARS = 4096;

/** What the file may hold: the settings' option names, their kinds. */
export interface FileSetting {
  option: string;
  kind: 'string' | 'file' | 'boolean';
}

function schemaOf(settings: readonly FileSetting[]) {
  const value = z.string().min(1, 'must not be empty').max(MAX_VALUE_CHARS, 'is too long');
  return z.strictObject(
    Object.fromEntries(
      settings.map(({ option, kind }) => [
        option,
        (kind === 'boolean' ? z.boolean('must be true or false') : value).optional(),
      ]),
    ),
  );
}

/**
 * The settings in deployment file `file`, each as a string (a boolean as `1`
 * or `0`, a path resolved against the file's directory). INPUT_TOO_LARGE past
 * 64 KiB; INVALID_INPUT, naming every bad key, for anything but such an object.
 */
export async function readDeploymentFile(
  file: string,
  settings: readonly FileSetting[],
): Promise<Record<string, string>> {
  const text = (
    await readCappedFile(file, { label: 'deployment file', maxBytes: MAX_DEPLOYMENT_FILE_BYTES })
  ).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UprollError('INVALID_INPUT', `deployment file ${file} is not JSON: ${(err as Error).message}`);
  }
  const parsed = schemaOf(settings).safeParse(json);
  if (!parsed.success)
    throw new UprollError(
      'INVALID_INPUT',
      `deployment file ${file}: ` +
        parsed.error.issues
          .map((issue) =>
            issue.code === 'unrecognized_keys'
              ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')} (it takes ${settings.map((s) => s.option).join(', ')})`
              : issue.path.length > 0
                ? `${issue.path.join('.')} ${issue.message}`
                : 'must be a JSON object',
          )
          .join('; '),
    );
  const values: Record<string, string> = {};
  for (const { option, kind } of settings) {
    const value = parsed.data[option];
    if (value === undefined) continue;
    if (typeof value === 'boolean') values[option] = value ? '1' : '0';
    else values[option] = kind === 'file' ? resolve(dirname(file), value) : value;
  }
  return values;
}
