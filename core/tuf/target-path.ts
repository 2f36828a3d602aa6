import { UprollError } from '../errors.ts';
import { nfc } from './canonical.ts';

/**
 * A target path as a client may look it up and store it: relative, '/'
 * separated, no empty, '.' or '..' segments, no backslash or control
 * characters, well-formed Unicode (so it can be percent-encoded). Returned in NFC.
 */
export function checkTargetPath(path: string): string {
  const normalized = nfc(path);
  const segments = normalized.split('/');
  const bad =
    normalized.length === 0 ||
    normalized.length > 1024 ||
    !normalized.isWellFormed() ||
    [...normalized].some((char) => char === '\\' || char.charCodeAt(0) < 0x20) ||
    segments.some((segment) => segment === '' || segment === '.' || segment === '..');
  if (bad)
    throw new UprollError(
      'INVALID_TARGET_PATH',
      `target path ${JSON.stringify(path)} is not a plain relative path`,
    );
  return normalized;
}
