import { UprollError } from '../../core/index.ts';

/** One member of a tar archive, its name and link target already resolved from pax/GNU long-name headers. */
export interface TarEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';
  mode: number;
  linkName: string;
  body: Uint8Array;
}

const BLOCK = 512;

/**
 * The entries of a tar archive (ustar, pax `path`/`linkpath`, GNU `L`/`K`)
 * held in memory. Malformed headers are refused with LAYER_UNSAFE rather
 * than guessed at.
 */
export function* tarEntries(tar: Uint8Array): Generator<TarEntry> {
  let offset = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  // Each header moves the offset forward by at least one block: bounded by the archive's size.
  while (offset + BLOCK <= tar.byteLength) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) return; // end of archive
    checkChecksum(header, offset);
    const size = octal(header.subarray(124, 136), offset);
    const typeflag = String.fromCharCode(header[156] ?? 0);
    const start = offset + BLOCK;
    if (start + size > tar.byteLength)
      throw unsafe(`entry at byte ${offset} runs past the end of the archive`);
    const body = tar.subarray(start, start + size);
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
    if (typeflag === 'L' || typeflag === 'K') {
      const value = text(body);
      if (typeflag === 'L') longName = value;
      else longLink = value;
      continue;
    }
    if (typeflag === 'x') {
      const pax = paxRecords(body);
      longName = pax.get('path') ?? longName;
      longLink = pax.get('linkpath') ?? longLink;
      continue;
    }
    if (typeflag === 'g') continue; // global pax header: nothing the agent uses
    const prefix = text(header.subarray(345, 500));
    const shortName = text(header.subarray(0, 100));
    const name = longName ?? (prefix && isUstar(header) ? `${prefix}/${shortName}` : shortName);
    const linkName = longLink ?? text(header.subarray(157, 257));
    longName = longLink = undefined;
    yield { name, type: typeOf(typeflag), mode: octal(header.subarray(100, 108), offset), linkName, body };
  }
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
