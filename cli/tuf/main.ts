import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isUprollError } from '../../core/index.ts';
import {
  findTarget,
  parseMetadata,
  refreshRepository,
  roleFetcher,
  TrustedRepository,
  DEFAULT_BYTE_CAPS,
} from '../../core/tuf/index.ts';
import {
  ensureTarget,
  fetchCapped,
  joinUrl,
  metadataDirectory,
  targetUrl,
} from '../../adapters/tuf/index.ts';
import { processIo, type Io } from '../command.ts';

const USAGE = `uproll-tuf: a TUF client over Uproll's trust core.

Usage:
  uproll-tuf --metadata-dir DIR init TRUSTED_ROOT
  uproll-tuf --metadata-dir DIR --metadata-url URL refresh
  uproll-tuf --metadata-dir DIR --metadata-url URL --target-name NAME [--target-name NAME ...]
             --target-base-url URL --target-dir DIR download

init copies a trusted root into DIR (no network). refresh runs the TUF client
workflow and keeps trusted metadata in DIR, unversioned (root.json, ...).
download refreshes, then fetches each target into the target directory,
verified by length and hashes; a copy there that verifies is not fetched again.
Exit status 0 on success, 1 on any failure (uproll-tuf: CODE: message).`;

class UsageError extends Error {}

/** Runs uproll-tuf; returns the exit status. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const { values, positionals } = parse(argv);
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    const metadataDir = required(values['metadata-dir'], '--metadata-dir');
    const [command, ...rest] = positionals;
    switch (command) {
      case 'init':
        await init(metadataDir, required(rest[0], 'TRUSTED_ROOT'));
        return 0;
      case 'refresh':
        await refresh(metadataDir, required(values['metadata-url'], '--metadata-url'));
        return 0;
      case 'download': {
        const names = values['target-name'] ?? [];
        if (names.length === 0) throw new UsageError('download needs at least one --target-name');
        await download(metadataDir, required(values['metadata-url'], '--metadata-url'), {
          names,
          baseUrl: required(values['target-base-url'], '--target-base-url'),
          dir: required(values['target-dir'], '--target-dir'),
        });
        return 0;
      }
      default:
        throw new UsageError(command ? `unknown command ${command}` : 'no command given');
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`uproll-tuf: ${err.message}\n\n${USAGE}`);
      return 1;
    }
    io.err(`uproll-tuf: ${isUprollError(err) ? `${err.code}: ${err.message}` : String(err)}`);
    return 1;
  }
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'metadata-dir': { type: 'string' },
        'metadata-url': { type: 'string' },
        'target-name': { type: 'string', multiple: true },
        'target-base-url': { type: 'string' },
        'target-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function required(value: string | undefined, name: string): string {
  if (!value) throw new UsageError(`${name} is required`);
  return value;
}

/** Copies the trusted root after checking it is root metadata signed by its own threshold. */
async function init(metadataDir: string, trustedRoot: string): Promise<void> {
  const bytes = await readFile(trustedRoot);
  parseMetadata('root', bytes, DEFAULT_BYTE_CAPS.root, trustedRoot);
  new TrustedRepository(bytes, { name: trustedRoot });
  await mkdir(metadataDir, { recursive: true });
  await copyFile(trustedRoot, join(metadataDir, 'root.json'));
}

async function refresh(metadataDir: string, metadataUrl: string) {
  const cache = metadataDirectory(metadataDir);
  const root = await cache.load('root');
  if (!root) throw new UsageError(`${metadataDir} holds no root.json: run init first`);
  const repository = new TrustedRepository(root, { name: metadataUrl });
  const fetch = (file: string, maxBytes: number) => fetchCapped(joinUrl(metadataUrl, file), maxBytes);
  await refreshRepository(repository, fetch, cache, new Date());
  return { repository, fetch, cache };
}

async function download(
  metadataDir: string,
  metadataUrl: string,
  targets: { names: string[]; baseUrl: string; dir: string },
) {
  const { repository, fetch, cache } = await refresh(metadataDir, metadataUrl);
  const fetchRole = roleFetcher(repository, fetch);
  for (const name of targets.names) {
    // Delegated roles are saved as they verify: they stay trusted when a target later fails.
    const found = await findTarget(repository, name, fetchRole, new Date(), cache);
    await ensureTarget(
      found,
      targetUrl(targets.baseUrl, found, repository.root.signed.consistentSnapshot),
      targets.dir,
    );
  }
}
