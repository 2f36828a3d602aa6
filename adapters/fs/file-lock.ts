import { mkdir, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

const STALE_AFTER_MS = 30_000;

/**
 * Runs `body` while holding an exclusive lock on `path` (a directory created
 * with mkdir, which is atomic). Serializes writers of a shared file, e.g. two
 * provisioning commands regenerating the NATS configuration at once. A lock
 * left by a crashed holder is taken over after 30 s.
 */
export async function withFileLock<T>(path: string, body: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const lockDir = `${path}.lock`;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      await mkdir(lockDir);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = await stat(lockDir).then(
        // A lock's age is against its mtime, which is on the wall clock of the file system.
        // eslint-disable-next-line no-restricted-syntax
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > STALE_AFTER_MS) await rm(lockDir, { recursive: true, force: true });
      else if (performance.now() > deadline)
        throw new Error(`timed out waiting for the lock ${lockDir}`, { cause: err });
      else await sleep(25);
    }
  }
  try {
    return await body();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}
