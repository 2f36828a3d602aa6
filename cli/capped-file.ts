import { readFile, stat } from 'node:fs/promises';
import { UprollError } from '../core/index.ts';

/**
 * A file a user named (`label`: the option or setting that named it), read
 * whole once it is known to be a file of at most `maxBytes`: INVALID_INPUT
 * when it cannot be read or is not a file, INPUT_TOO_LARGE past the cap.
 * `secret`: refused when others may read it, as ssh refuses such a key.
 */
export async function readCappedFile(
  file: string,
  { label, maxBytes, secret = false }: { label: string; maxBytes: number; secret?: boolean },
): Promise<Buffer> {
  const info = await stat(file).catch((err: NodeJS.ErrnoException) => {
    throw new UprollError('INVALID_INPUT', `cannot read ${label} ${file}: ${err.code ?? err.message}`);
  });
  if (!info.isFile()) throw new UprollError('INVALID_INPUT', `${label} ${file} is not a file`);
  if (info.size > maxBytes)
    throw new UprollError('INPUT_TOO_LARGE', `${label} ${file} is larger than ${maxBytes} bytes`);
  if (secret && (info.mode & 0o077) !== 0)
    throw new UprollError(
      'INVALID_INPUT',
      `${label} ${file} is readable by others (mode ${(info.mode & 0o777).toString(8)}): chmod 600 it`,
    );
  return readFile(file);
}
