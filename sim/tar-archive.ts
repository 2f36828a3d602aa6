/** One member of a layer archive. */
export type TarMember =
  | { name: string; type: 'directory'; mode?: number }
  | { name: string; type: 'file'; body: Uint8Array; mode?: number }
  | { name: string; type: 'symlink'; target: string };

const BLOCK = 512;
const TYPE_FLAGS = { file: '0', directory: '5', symlink: '2' } as const;

/**
 * A ustar archive of `members`, in the order given. Owner root, mtime 0:
 * the same members always give the same bytes, so an image layer built
 * twice has one digest (and is stored and downloaded once).
 */
export function ustarOf(members: readonly TarMember[]): Buffer {
  const blocks: Buffer[] = [];
  for (const member of members) {
    const body = member.type === 'file' ? Buffer.from(member.body) : Buffer.alloc(0);
    blocks.push(
      headerOf(member, body.byteLength),
      body,
      Buffer.alloc((BLOCK - (body.byteLength % BLOCK)) % BLOCK),
    );
  }
  blocks.push(Buffer.alloc(2 * BLOCK)); // end of archive
  return Buffer.concat(blocks);
}

function headerOf(member: TarMember, size: number): Buffer {
  const name = member.type === 'directory' && !member.name.endsWith('/') ? `${member.name}/` : member.name;
  const target = member.type === 'symlink' ? member.target : '';
  // ustar's plain name field: the demo's paths are short, and a longer one must not be cut silently.
  if (Buffer.byteLength(name) > 100 || Buffer.byteLength(target) > 100)
    throw new Error(`tar member ${name}: names and link targets are limited to 100 bytes`);
  const header = Buffer.alloc(BLOCK);
  const put = (text: string, at: number) => header.write(text, at, 'utf8');
  const octal = (value: number, at: number, length: number) =>
    put(`${value.toString(8).padStart(length - 1, '0')}\0`, at);
  const mode =
    member.type === 'symlink' ? 0o777 : (member.mode ?? (member.type === 'directory' ? 0o755 : 0o644));
  put(name, 0);
  octal(mode, 100, 8);
  octal(0, 108, 8); // uid
  octal(0, 116, 8); // gid
  octal(size, 124, 12);
  octal(0, 136, 12); // mtime
  put(TYPE_FLAGS[member.type], 156);
  put(target, 157);
  put('ustar\u000000', 257);
  // The checksum is summed with its own field as spaces.
  header.fill(0x20, 148, 156);
  const sum = header.reduce((total, byte) => total + byte, 0);
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return header;
}
