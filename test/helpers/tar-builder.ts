/** One member of a hand-made tar archive (tests craft hostile layers with it). */
export interface TarMember {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'hardlink';
  body?: string;
  linkName?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

const FLAGS = { file: '0', directory: '5', symlink: '2', hardlink: '1' } as const;

/** A ustar archive of `members`, written exactly as given (no name cleaning: that is the point). */
export function tarOf(members: readonly TarMember[]): Buffer {
  const blocks: Buffer[] = [];
  for (const member of members) {
    const body = Buffer.from(member.body ?? '');
    blocks.push(tarHeaderOf(member, body.byteLength), body, tarPaddingOf(body.byteLength));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** The 512-byte ustar header of `member` with a body of `size` bytes (for archives streamed without their bodies in memory). */
export function tarHeaderOf(member: Omit<TarMember, 'body'>, size: number): Buffer {
  const header = Buffer.alloc(512);
  const put = (text: string, at: number, length: number) => header.write(text, at, length, 'utf8');
  const octal = (value: number, at: number, length: number) =>
    put(`${value.toString(8).padStart(length - 1, '0')}\0`, at, length);
  put(member.name, 0, 100);
  octal(member.mode ?? (member.type === 'directory' ? 0o755 : 0o644), 100, 8);
  octal(member.uid ?? 0, 108, 8);
  octal(member.gid ?? 0, 116, 8);
  octal(size, 124, 12);
  octal(0, 136, 12);
  put(FLAGS[member.type ?? 'file'], 156, 1);
  put(member.linkName ?? '', 157, 100);
  put('ustar\u000000', 257, 8);
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return header;
}

/** The zeros that round a body of `size` bytes up to whole 512-byte blocks. */
export function tarPaddingOf(size: number): Buffer {
  return Buffer.alloc((512 - (size % 512)) % 512);
}
