import { chmod, lchown, link, lstat, mkdir, open, readdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { UprollError } from '../../core/index.ts';
import { tarEntries, type TarEntry } from './tar-entries.ts';

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/**
 * Applies one OCI layer (an uncompressed tar, its digest already checked,
 * whole or as a stream: files are written chunk by chunk, so memory does
 * not grow with the layer) onto `rootfs`. Every entry must stay inside
 * it: absolute names, `..` segments and paths through a symlink are
 * refused with LAYER_UNSAFE, and no symlink is ever followed while writing
 * (each parent is checked with lstat). Whiteouts delete what lower layers
 * put there. Files, directories and symlinks keep the tar's uid, gid and
 * mode (the agent runs as root), but devices and fifos are skipped and
 * setuid/setgid bits are dropped: nothing in a layer gains privileges.
 */
export async function extractLayer(
  tar: Uint8Array | AsyncIterable<Uint8Array>,
  rootfs: string,
): Promise<void> {
  for await (const entry of tarEntries(tar instanceof Uint8Array ? Readable.from([tar]) : tar)) {
    const segments = safeSegments(entry.name);
    if (segments.length === 0) continue; // the archive's own root, "./"
    const parent = await parentDirectory(rootfs, segments.slice(0, -1));
    const base = segments.at(-1)!;
    if (base === OPAQUE) {
      for (const name of await readdir(parent))
        await rm(join(parent, name), { recursive: true, force: true });
      continue;
    }
    if (base.startsWith(WHITEOUT)) {
      await rm(join(parent, base.slice(WHITEOUT.length)), { recursive: true, force: true });
      continue;
    }
    await place(entry, join(parent, base), rootfs);
  }
}

async function place(entry: TarEntry, path: string, rootfs: string): Promise<void> {
  const existing = await lstat(path).catch(() => undefined);
  const mode = entry.mode & 0o1777;
  if (entry.type === 'directory') {
    if (existing && !existing.isDirectory()) await rm(path, { recursive: true, force: true });
    if (!existing?.isDirectory()) await mkdir(path);
    await lchown(path, entry.uid, entry.gid);
    await chmod(path, mode);
    return;
  }
  if (entry.type === 'other') return;
  if (existing) await rm(path, { recursive: true, force: true });
  switch (entry.type) {
    case 'file':
      await writeBody(path, entry.body, mode);
      await lchown(path, entry.uid, entry.gid);
      await chmod(path, mode); // whatever the umask
      return;
    case 'symlink':
      // Its target is only ever resolved inside the container, never while extracting.
      if (entry.linkName === '') throw unsafe(entry.name, 'is a symlink without a target');
      await symlink(entry.linkName, path);
      await lchown(path, entry.uid, entry.gid); // the link itself, never its target
      return;
    case 'hardlink': {
      const target = safeSegments(entry.linkName);
      const source = join(await parentDirectory(rootfs, target.slice(0, -1)), target.at(-1) ?? '');
      const stats = await lstat(source).catch(() => undefined);
      if (target.length === 0 || !stats?.isFile())
        throw unsafe(entry.name, `is a hard link to ${entry.linkName}, which is not a file of the layer`);
      await link(source, path);
      return;
    }
  }
}

/** Writes a new file from its tar body as it is read (`wx`: never through something already there). */
async function writeBody(path: string, body: AsyncIterable<Uint8Array>, mode: number): Promise<void> {
  const file = await open(path, 'wx', mode);
  try {
    for await (const chunk of body)
      for (let written = 0; written < chunk.byteLength;)
        written += (await file.write(chunk, written)).bytesWritten;
  } finally {
    await file.close();
  }
}

/** The plain segments of an entry name, or LAYER_UNSAFE when it is absolute or uses `..`. */
function safeSegments(name: string): string[] {
  if (name.startsWith('/')) throw unsafe(name, 'is an absolute path');
  const segments = name.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.includes('..')) throw unsafe(name, 'climbs out with ..');
  if (segments.some((segment) => segment.includes('\0'))) throw unsafe(name, 'holds a NUL byte');
  return segments;
}

/** The directory `segments` name under `rootfs`, made where missing; a symlink on the way is refused. */
async function parentDirectory(rootfs: string, segments: readonly string[]): Promise<string> {
  let dir = rootfs;
  for (const segment of segments) {
    dir = join(dir, segment);
    const stats = await lstat(dir).catch(() => undefined);
    if (stats === undefined) await mkdir(dir, { mode: 0o755 });
    else if (stats.isSymbolicLink())
      throw unsafe(
        segments.join('/'),
        `goes through the symlink ${segment}, which could lead out of the rootfs`,
      );
    else if (!stats.isDirectory())
      throw unsafe(segments.join('/'), `goes through ${segment}, which is not a directory`);
  }
  return dir;
}

function unsafe(name: string, why: string): UprollError {
  return new UprollError('LAYER_UNSAFE', `layer entry ${name} ${why}: refused`);
}
