import { mkdir, readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UprollError } from '../../core/index.ts';
import { writeFileAtomic } from '../../adapters/fs/index.ts';

/**
 * Where repository services keep metadata and targets, by '/'-separated
 * key. `put` is atomic: a reader sees the old bytes or the new ones, never
 * a part, even across a crash. The default is the local filesystem; an
 * object store can stand in for it.
 */
export interface BlobStore {
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** The bytes under `key`, or undefined. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Names directly under a '/'-ended prefix. */
  list(prefix: string): Promise<string[]>;
}

const SEGMENT = /^[A-Za-z0-9._-]{1,255}$/;

/** A BlobStore in a directory: temp file, fsync, rename (see writeFileAtomic). */
export class FileBlobStore implements BlobStore {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  #path(key: string): string {
    const segments = key.split('/').filter((s) => s !== '');
    if (segments.length === 0 || segments.some((s) => !SEGMENT.test(s) || /^\.+$/.test(s))) {
      throw new UprollError('INVALID_INPUT', `blob key ${JSON.stringify(key)} is not a plain relative path`);
    }
    return join(this.root, ...segments);
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const path = this.#path(key);
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(path, bytes);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return readFile(this.#path(key)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
  }

  async list(prefix: string): Promise<string[]> {
    const dir = prefix.split('/').filter(Boolean).length === 0 ? this.root : this.#path(prefix);
    return (await readdir(dir).catch(() => [] as string[])).filter((name) => !name.startsWith('.'));
  }
}
