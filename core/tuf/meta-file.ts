import { createHash } from 'node:crypto';
import { UprollError } from '../errors.ts';

/** What a parent lists about a child file: a version and, optionally, its length and hashes. */
export interface MetaInfo {
  version: number;
  length?: number;
  hashes?: Record<string, string>;
}

const SUPPORTED_HASHES = new Set(['sha256', 'sha512']);

/**
 * TUF 5.5.2 / 5.6.2: metadata bytes must have the length and hashes their
 * parent lists, when it lists them. A mismatch means the file was swapped for
 * another (mix-and-match).
 */
export function checkAgainstMeta(bytes: Uint8Array, meta: MetaInfo, what: string): void {
  if (meta.length !== undefined && bytes.byteLength !== meta.length) {
    throw new UprollError(
      'MIX_AND_MATCH',
      `${what} is ${bytes.byteLength} bytes, its parent lists ${meta.length}`,
    );
  }
  for (const [algorithm, expected] of Object.entries(meta.hashes ?? {})) {
    if (!SUPPORTED_HASHES.has(algorithm)) continue;
    const actual = createHash(algorithm).update(bytes).digest('hex');
    if (actual !== expected.toLowerCase()) {
      throw new UprollError('MIX_AND_MATCH', `${what} does not have the ${algorithm} its parent lists`);
    }
  }
}
