import type { Artifact } from '../core/index.ts';
import { downloadVerified, type DownloadOptions, type DownloadResult } from '../services/tuf/index.ts';

/**
 * Streams an artifact to `destination` and keeps it only if it has exactly
 * the length and sha256 the command names (see `downloadVerified`).
 */
export function downloadArtifact(
  artifact: Artifact,
  destination: string,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  const target = { length: artifact.length, hashes: { sha256: artifact.sha256 } };
  return downloadVerified(artifact.url, target, artifact.name, destination, options);
}
