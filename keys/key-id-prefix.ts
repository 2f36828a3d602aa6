import { UprollError } from '../core/index.ts';

/** The shortest key id prefix that names a key (`keys list` prints 16 hex digits). */
export const MIN_KEY_ID_PREFIX = 8;

/**
 * The one key id among `keyIds` that `name` names: the whole id or a unique
 * prefix of at least 8 hex digits. Anything else is refused, never guessed:
 * UNKNOWN_KEY when no id starts with it, AMBIGUOUS_KEY when several do.
 */
export function resolveKeyId(name: string, keyIds: Iterable<string>, where: string): string {
  const prefix = name.toLowerCase();
  if (!new RegExp(`^[0-9a-f]{${MIN_KEY_ID_PREFIX},64}$`).test(prefix)) {
    throw new UprollError(
      'INVALID_INPUT',
      `${JSON.stringify(name)} is not a key id: name a key by its id or at least ${MIN_KEY_ID_PREFIX} hex digits of it`,
    );
  }
  const matches = [...new Set(keyIds)].filter((id) => id.startsWith(prefix));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new UprollError('UNKNOWN_KEY', `no key ${name} in ${where}`);
  throw new UprollError(
    'AMBIGUOUS_KEY',
    `${name} names ${matches.length} keys in ${where} (${matches.map((id) => id.slice(0, 16)).join(', ')}): give more of the key id`,
  );
}
