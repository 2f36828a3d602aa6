import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { UprollError, type OciConfig } from '../../core/index.ts';

/** /etc/passwd and /etc/group are read whole: a cap keeps a hostile image from filling memory. */
const MAX_ACCOUNT_FILE_BYTES = 1024 * 1024;
/** The largest uid or gid Linux has (2^32 - 1 means "none"). */
const MAX_ID = 0xfffffffe;

/** The uid and gid an app's process runs as. */
export interface ProcessUser {
  uid: number;
  gid: number;
}

/**
 * Who the image's `User` says its process runs as (root when it names no
 * one): numbers are taken as they are; names, and a uid's primary group
 * when no group is named, come from the unpacked rootfs's /etc/passwd and
 * /etc/group. A name that is not there is refused with APP_START_FAILED,
 * never guessed to be root.
 */
export async function imageUser(image: OciConfig, rootfs: string, app: string): Promise<ProcessUser> {
  const user = image.config?.User ?? '';
  if (user === '') return { uid: 0, gid: 0 };
  const [userPart = '', groupPart] = user.split(':');
  const refuse = (why: string) =>
    new UprollError('APP_START_FAILED', `app ${app}: its image's User ${user} ${why}`);
  const passwd = await accounts(rootfs, 'passwd');
  const entry = isNumber(userPart)
    ? passwd.find((fields) => fields[2] === userPart)
    : passwd.find((fields) => fields[0] === userPart);
  const uid = isNumber(userPart) ? id(userPart, refuse) : entry && id(entry[2] ?? '', refuse);
  if (uid === undefined) throw refuse(`names user ${userPart}, who is not in the image's /etc/passwd`);
  if (groupPart === undefined) return { uid, gid: entry ? id(entry[3] ?? '', refuse) : 0 };
  if (isNumber(groupPart)) return { uid, gid: id(groupPart, refuse) };
  const group = (await accounts(rootfs, 'group')).find((fields) => fields[0] === groupPart);
  if (!group) throw refuse(`names group ${groupPart}, which is not in the image's /etc/group`);
  return { uid, gid: id(group[2] ?? '', refuse) };
}

function isNumber(text: string): boolean {
  return /^[0-9]+$/.test(text);
}

function id(text: string, refuse: (why: string) => UprollError): number {
  const value = Number(text);
  if (!isNumber(text) || value > MAX_ID)
    throw refuse(`leads to the id ${JSON.stringify(text)}, which is not a uid or gid`);
  return value;
}

/**
 * The lines of the rootfs's /etc/`name` (its first MiB), split on `:`;
 * none when it has no such file. The file is opened without following a symlink, and /etc must
 * not be one: a layer's symlink could point at the device's own files.
 */
async function accounts(rootfs: string, name: 'passwd' | 'group'): Promise<string[][]> {
  const etc = await open(
    join(rootfs, 'etc'),
    constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW,
  ).catch(() => undefined);
  if (!etc) return [];
  await etc.close();
  const file = await open(join(rootfs, 'etc', name), constants.O_RDONLY | constants.O_NOFOLLOW).catch(
    () => undefined,
  );
  if (!file) return [];
  try {
    const buffer = Buffer.alloc(MAX_ACCOUNT_FILE_BYTES);
    const { bytesRead } = await file.read(buffer, 0, buffer.byteLength, 0).catch(() => ({ bytesRead: 0 }));
    return buffer
      .subarray(0, bytesRead)
      .toString('utf8')
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => line.split(':'));
  } finally {
    await file.close();
  }
}
