import { UprollError } from '../../core/index.ts';

/** One member of a tar archive, its name and link target already resolved from pax/GNU long-name headers. */
export interface TarEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  linkName: string;
  size: number;
  /** The entry's bytes, read from the archive as they are consumed: only until the next entry is asked for. */
  body: AsyncIterable<Uint8Array>;
}

const BLOCK = 512;
/** Pax and GNU long-name records are held in memory: a name or link target never needs more. */
const MAX_META_BYTES = 1024 * 1024;

/**
 * The entries of a tar archive (ustar, pax `path`/`linkpath`/`uid`/`gid`,
 * GNU `L`/`K`) read from a stream, with memory bounded by the chunk size
 * and the metadata cap whatever the archive's size: each entry's body is
 * handed on in chunks, and what the consumer leaves unread is skipped.
 * Malformed headers are refused with LAYER_UNSAFE rather than guessed at.
 */
export async function* tarEntries(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarEntry> {
  const reader = new ChunkReader(source);
  let offset = 0;
  let pax = new Map<string, string>();
  let longName: string | undefined;
  let longLink: string | undefined;
  // Each header moves the offset forward by at least one block; the stream's end stops the loop.
  for (;;) {
    const header = await reader.exactly(BLOCK);
    if (!header || header.every((byte) => byte === 0)) return; // end of archive
    checkChecksum(header, offset);
    const size = octal(header.subarray(124, 136), offset);
    const typeflag = String.fromCharCode(header[156] ?? 0);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    const at = offset;
    offset += BLOCK + padded;
    if (typeflag === 'L' || typeflag === 'K' || typeflag === 'x' || typeflag === 'g') {
      if (size > MAX_META_BYTES)
        throw unsafe(`entry at byte ${at} has over ${MAX_META_BYTES} bytes of metadata`);
      const body = await reader.exactly(padded);
      if (!body) throw unsafe(`entry at byte ${at} runs past the end of the archive`);
      const value = body.subarray(0, size);
      if (typeflag === 'L') longName = text(value);
      else if (typeflag === 'K') longLink = text(value);
      else if (typeflag === 'x') pax = paxRecords(value);
      continue; // a global pax header ('g') holds nothing the agent uses
    }
    const prefix = text(header.subarray(345, 500));
    const shortName = text(header.subarray(0, 100));
    const number = (key: string, start: number) =>
      pax.has(key) ? paxNumber(pax.get(key)!, key) : octal(header.subarray(start, start + 8), at);
    const entry: Omit<TarEntry, 'body'> = {
      name: pax.get('path') ?? longName ?? (prefix && isUstar(header) ? `${prefix}/${shortName}` : shortName),
      type: typeOf(typeflag),
      mode: octal(header.subarray(100, 108), at),
      uid: number('uid', 108),
      gid: number('gid', 116),
      linkName: pax.get('linkpath') ?? longLink ?? text(header.subarray(157, 257)),
      size,
    };
    pax = new Map();
    longName = longLink = undefined;
    yield { ...entry, body: reader.take(size, `entry at byte ${at}`) };
    // Whatever of the body the consumer left unread, and the padding after it.
    if (!(await reader.skipTo(offset))) throw unsafe(`entry at byte ${at} runs past the end of the archive`);
  }
}

/** Reads exact byte counts from a chunked stream, holding at most one chunk plus what was asked for. */
class ChunkReader {
  readonly #chunks: AsyncIterator<Uint8Array>;
  #held: Uint8Array = new Uint8Array(0);
  /** Bytes of the stream handed out or skipped so far. */
  #position = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#chunks = source[Symbol.asyncIterator]();
  }

  /** The next `n` bytes (n kept small by the callers), or undefined when the stream ends first. */
  async exactly(n: number): Promise<Uint8Array | undefined> {
    while (this.#held.byteLength < n) {
      const next = await this.#chunks.next();
      if (next.done) return undefined;
      this.#held = concat(this.#held, next.value);
    }
    return this.#hand(n);
  }

  /** Up to `n` bytes as chunks, each consumed before the next is read; LAYER_UNSAFE when the stream ends first. */
  async *take(n: number, what: string): AsyncGenerator<Uint8Array> {
    const end = this.#position + n;
    while (this.#position < end) {
      if (!(await this.#fill())) throw unsafe(`${what} runs past the end of the archive`);
      yield this.#hand(Math.min(end - this.#position, this.#held.byteLength));
    }
  }

  /** Drops bytes up to stream offset `position`; false when the stream ends first. */
  async skipTo(position: number): Promise<boolean> {
    while (this.#position < position) {
      if (!(await this.#fill())) return false;
      this.#hand(Math.min(position - this.#position, this.#held.byteLength));
    }
    return true;
  }

  /** Makes sure some bytes are held; false at the end of the stream. */
  async #fill(): Promise<boolean> {
    while (this.#held.byteLength === 0) {
      const next = await this.#chunks.next();
      if (next.done) return false;
      this.#held = next.value;
    }
    return true;
  }

  #hand(n: number): Uint8Array {
    const bytes = this.#held.subarray(0, n);
    this.#held = this.#held.subarray(n);
    this.#position += n;
    return bytes;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.byteLength === 0) return b;
  return Buffer.concat([a, b]);
}

function typeOf(flag: string): TarEntry['type'] {
  if (flag === '0' || flag === '\0' || flag === '7') return 'file';
  if (flag === '5') return 'directory';
  if (flag === '2') return 'symlink';
  if (flag === '1') return 'hardlink';
  return 'other'; // devices, fifos: never created
}

function isUstar(header: Uint8Array): boolean {
  return text(header.subarray(257, 263)).startsWith('ustar');
}

function text(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(end < 0 ? bytes : bytes.subarray(0, end)).toString('utf8');
}

function octal(field: Uint8Array, at: number): number {
  if ((field[0] ?? 0) & 0x80) throw unsafe(`entry at byte ${at} uses a base-256 number field`);
  const digits = text(field).trim();
  if (digits === '') return 0;
  if (!/^[0-7]+$/.test(digits)) throw unsafe(`entry at byte ${at} has a bad number field`);
  return parseInt(digits, 8);
}

function paxNumber(value: string, key: string): number {
  if (!/^[0-9]{1,10}$/.test(value) || Number(value) > 0xffffffff)
    throw unsafe(`a pax ${key} record is not a 32-bit number`);
  return Number(value);
}

function checkChecksum(header: Uint8Array, at: number): void {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
  if (octal(header.subarray(148, 156), at) !== sum)
    throw unsafe(`entry at byte ${at} has a bad header checksum`);
}

/** Pax extended header records: `<length> <key>=<value>\n`. */
function paxRecords(body: Uint8Array): Map<string, string> {
  const records = new Map<string, string>();
  let offset = 0;
  while (offset < body.byteLength) {
    const space = body.indexOf(0x20, offset);
    const length = space < 0 ? NaN : Number(Buffer.from(body.subarray(offset, space)).toString('ascii'));
    if (!Number.isInteger(length) || length <= space - offset || offset + length > body.byteLength)
      throw unsafe('a pax header record is malformed');
    const record = Buffer.from(body.subarray(space + 1, offset + length - 1)).toString('utf8');
    const equals = record.indexOf('=');
    if (equals > 0) records.set(record.slice(0, equals), record.slice(equals + 1));
    offset += length;
  }
  return records;
}

function unsafe(message: string): UprollError {
  return new UprollError('LAYER_UNSAFE', `layer tar: ${message}`);
}
