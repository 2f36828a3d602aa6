import { roleSigners } from '../../keys/index.ts';
import { UsageError, type OptionSpec } from '../command.ts';
import { readPassphrase } from '../passphrase.ts';
import { locationOptions, openKeyStore } from '../locations.ts';

/** `--health-cmd` / `--health-timeout` of a revision, if given. */
export function healthOf(values: Record<string, unknown>) {
  return typeof values['health-cmd'] === 'string'
    ? {
        command: ['sh', '-c', values['health-cmd']] as [string, ...string[]],
        timeoutMs: Number(values['health-timeout'] ?? 30_000),
      }
    : undefined;
}

/** The options of a revision's health check. */
export const healthOptions = {
  'health-cmd': { type: 'string', description: 'shell command that decides the revision is healthy' },
  'health-timeout': {
    type: 'string',
    description: 'time limit of the health command in ms (default 30000)',
  },
} satisfies Record<string, OptionSpec>;

/** The options of where a revision goes: the key store, the Image repository, hardware and release counter. */
export const revisionTargetOptions = {
  keystore: locationOptions.keystore,
  repo: locationOptions.repo,
  'hardware-id': {
    type: 'string',
    multiple: true,
    description: 'hardware the revision runs on (repeat for several)',
  },
  'release-counter': { type: 'string', description: 'release counter; devices never install a lower one' },
} satisfies Record<string, OptionSpec>;

/** --hardware-id (at least one) and --release-counter, checked. */
export function releaseTarget(values: Record<string, unknown>) {
  const hardwareIds = (values['hardware-id'] as string[] | undefined) ?? [];
  if (hardwareIds.length === 0) throw new UsageError('--hardware-id is required');
  const releaseCounter = Number(values['release-counter']);
  if (!Number.isInteger(releaseCounter) || releaseCounter < 0)
    throw new UsageError('--release-counter must be a whole number >= 0');
  return { hardwareIds, releaseCounter };
}

/** The online keys a publish signs with (releases, snapshot, timestamp), opened with the online passphrase. */
export async function publishingSigners(values: Record<string, unknown>) {
  const passphrase = await readPassphrase(values, '', 'online key');
  const store = openKeyStore(values, { onlineOnly: true });
  return {
    releases: await roleSigners(store, 'image', 'releases', passphrase),
    snapshot: await roleSigners(store, 'image', 'snapshot', passphrase),
    timestamp: await roleSigners(store, 'image', 'timestamp', passphrase),
  };
}
