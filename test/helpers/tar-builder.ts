/** One member of a hand-made tar archive (tests craft hostile layers with it). */
export interface TarMember {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'hardlink';
  body?: string;
  linkName?: string;
  mode?: number;
}

const FLAGS = { file: '0', directory: '5', symlink: '2', hardlink: '1' } as const;

/** A ustar archive of `members`, written exactly as given (no name cleaning: that is the point). */
export function tarOf(members: readonly TarMember[]): Buffer {
  const blocks: Buffer[] = [];
  for (const member of members) {
    const body = Buffer.from(member.body ?? '');
    const header = Buffer.alloc(512);
    const put = (text: string, at: number, length: number) => header.write(text, at, length, 'utf8');
    const octal = (value: number, at: number, length: number) =>
      put(`${value.toString(8).padStart(length - 1, '0')}\0`, at, length);
    put(member.name, 0, 100);
    octal(member.mode ?? (member.type === 'directory' ? 0o755 : 0o644), 100, 8);
    octal(0, 108, 8);
    octal(0, 116, 8);
    octal(body.byteLength, 124, 12);
    octal(0, 136, 12);
    put(FLAGS[member.type ?? 'file'], 156, 1);
    put(member.linkName ?? '', 157, 100);
    put('ustar\u000000', 257, 8);
    header.fill(0x20, 148, 156);
    let sum = 0;
    for (const byte of header) sum += byte;
    put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
    blocks.push(header, body, Buffer.alloc((512 - (body.byteLength % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}
