import { UprollError } from '../errors.ts';
import { checkTargetPath } from './target-path.ts';

// Role names and target paths come from metadata. Where they become a URL or
// a file name they are percent-encoded, as python-tuf's ngclient does
// (`urllib.parse.quote(name, '')`), so a role named `x/../../escape` is asked
// for as `x%2F..%2F..%2Fescape.json`, inside the metadata URL and directory.

/**
 * Percent-encodes the UTF-8 of `text` but for RFC 3986's unreserved
 * characters (A-Z a-z 0-9 - . _ ~). The result holds no `/`, `?`, `#` or `%`
 * of the original: as one URL path segment it adds no segment, query or
 * fragment, and as a file name it stays in its directory. `text` must be
 * well-formed Unicode (callers check it).
 */
export function percentEncode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** TUF 5.6: the metadata file name of a role, `ROLE.json` or `VERSION.ROLE.json`, the role name percent-encoded. */
export function roleFileName(role: string, version?: number): string {
  // A lone surrogate has no UTF-8, so no encoding: refuse it rather than guess one.
  if (!role.isWellFormed())
    throw new UprollError('INVALID_ROLE_NAME', `role name ${JSON.stringify(role)} is not valid Unicode`);
  const name = `${percentEncode(role)}.json`;
  return version === undefined ? name : `${version}.${name}`;
}

/**
 * The file name a repository writes a role's metadata under. Only plain role
 * names (that percent-encoding leaves as they are) are written, so the file
 * on disk, the URL a client asks for and the name a server decodes from that
 * URL are the same; any other name is refused with INVALID_ROLE_NAME.
 */
export function repositoryFileName(role: string, version: number): string {
  checkPlainRoleName(role);
  return roleFileName(role, version);
}

/** Refuses (INVALID_ROLE_NAME) a role name a repository cannot write as it is: see `repositoryFileName`. */
export function checkPlainRoleName(role: string): void {
  if (role.length === 0 || !role.isWellFormed() || percentEncode(role) !== role) {
    throw new UprollError(
      'INVALID_ROLE_NAME',
      `role name ${JSON.stringify(role)} is not plain (A-Z a-z 0-9 - . _ ~): a repository does not write it`,
    );
  }
}

/**
 * TUF 5.7.3: the URL path of a target below the targets base URL, each
 * segment percent-encoded; with consistent snapshots the last segment is
 * prefixed with `hashPrefix.`. The path is checked first (INVALID_TARGET_PATH).
 */
export function targetUrlPath(path: string, hashPrefix?: string): string {
  const segments = checkTargetPath(path).split('/');
  const last = segments.pop() as string;
  const file = hashPrefix === undefined ? last : `${hashPrefix}.${last}`;
  return [...segments, file].map(percentEncode).join('/');
}
