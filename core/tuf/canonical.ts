/**
 * OLPC canonical JSON, the form TUF signs: object keys sorted, no
 * whitespace, integers only, and in strings only `"` and `\` escaped. Output
 * is identical to @tufjs/canonical-json (a property test holds it to that);
 * this version writes into one buffer instead of joining per level, which
 * matters for large targets metadata.
 */
export function canonicalize(value: unknown): string {
  // Fast paths through the native JSON.stringify: as is when the keys are
  // already in order (metadata served in canonical form), else a key-sorted
  // copy. Both give the canonical form unless a key is integer-like (engines
  // list those first, in numeric order) or a string needs literal escaping.
  if (isStringifiable(value)) return JSON.stringify(value);
  const sorted = sortedCopy(value);
  if (sorted !== SLOW_PATH) return JSON.stringify(sorted);
  const out: string[] = [];
  write(value, out);
  return out.join('');
}

const SLOW_PATH = Symbol('slow path');

/** True when JSON.stringify(value) is already its canonical form. */
function isStringifiable(value: unknown): boolean {
  if (typeof value === 'string') return !NEEDS_LITERAL.test(value);
  if (typeof value === 'number') return Number.isInteger(value);
  if (value === null || typeof value === 'boolean') return true;
  if (Array.isArray(value)) return value.every(isStringifiable);
  if (typeof value !== 'object') return false;
  const record = value as Record<string, unknown>;
  let previous: string | undefined;
  for (const key of Object.keys(record)) {
    if ((previous !== undefined && previous >= key) || INTEGER_LIKE.test(key) || NEEDS_LITERAL.test(key))
      return false;
    if (!isStringifiable(record[key])) return false;
    previous = key;
  }
  return true;
}
const INTEGER_LIKE = /^(?:0|[1-9][0-9]*)$/;

function sortedCopy(value: unknown): unknown {
  if (typeof value === 'string') return NEEDS_LITERAL.test(value) ? SLOW_PATH : value;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new TypeError(`canonical JSON cannot encode ${value}`);
    return value;
  }
  if (value === null || typeof value === 'boolean') return value;
  if (Array.isArray(value)) {
    const copy = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) {
      const element = sortedCopy(value[i]);
      if (element === SLOW_PATH) return SLOW_PATH;
      copy[i] = element;
    }
    return copy;
  }
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const copy: Record<string, unknown> = {};
    for (const key of Object.keys(record).sort()) {
      if (INTEGER_LIKE.test(key) || NEEDS_LITERAL.test(key)) return SLOW_PATH;
      const element = sortedCopy(record[key]);
      if (element === SLOW_PATH) return SLOW_PATH;
      copy[key] = element;
    }
    return copy;
  }
  throw new TypeError(`canonical JSON cannot encode a ${typeof value}`);
}

/** The bytes TUF signs: canonical JSON of a value, UTF-8 encoded. */
export function canonicalBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalize(value));
}

/** Strings are compared in Unicode NFC, so two spellings of one name are one name. */
export function nfc(value: string): string {
  return value.normalize('NFC');
}

// JSON.stringify escapes exactly like canonical JSON unless a string holds a
// control character or a surrogate; those take the slow, literal path.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const NEEDS_LITERAL = /[\u0000-\u001f\ud800-\udfff]/;

function writeString(value: string, out: string[]): void {
  out.push(
    NEEDS_LITERAL.test(value)
      ? `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
      : JSON.stringify(value),
  );
}

function write(value: unknown, out: string[]): void {
  if (typeof value === 'string') return writeString(value, out);
  if (value === null || typeof value === 'boolean') return void out.push(String(value));
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new TypeError(`canonical JSON cannot encode ${value}`);
    return void out.push(JSON.stringify(value));
  }
  if (Array.isArray(value)) {
    out.push('[');
    value.forEach((element, i) => {
      if (i > 0) out.push(',');
      write(element, out);
    });
    return void out.push(']');
  }
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    out.push('{');
    Object.keys(record)
      .sort()
      .forEach((key, i) => {
        if (i > 0) out.push(',');
        writeString(key, out);
        out.push(':');
        write(record[key], out);
      });
    return void out.push('}');
  }
  throw new TypeError(`canonical JSON cannot encode a ${typeof value}`);
}
