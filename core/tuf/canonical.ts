import { canonicalize } from '@tufjs/canonical-json';

/** The bytes TUF signs: OLPC canonical JSON of a value, UTF-8 encoded. */
export function canonicalBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalize(value));
}

/** Strings are compared in Unicode NFC, so two spellings of one name are one name. */
export function nfc(value: string): string {
  return value.normalize('NFC');
}
