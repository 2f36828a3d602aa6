import { lstat, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { extractLayer, imageUser } from '../../../../agent/index.ts';
import type { AppRelease, OciImage } from '../../../../services/image-repo/index.ts';
import { closeAppRig, randomArtifacts, startAgentRig, type AgentRig } from '../../../helpers/agent-rig.ts';
import { busyboxImage } from '../../../helpers/oci-image.ts';
import { tarOf } from '../../../helpers/tar-builder.ts';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'uproll-app-user-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

const PASSWD = 'root:x:0:0::/:/bin/sh\nweb:x:1234:2345::/:/bin/sh\n';
const GROUP = 'root:x:0:\nstaff:x:50:\nwebgroup:x:2345:\n';

describe('a layer unpacked', () => {
  it("keeps each entry's uid, gid and mode, but drops setuid and setgid", async () => {
    const rootfs = join(root, 'rootfs');
    await mkdir(rootfs);
    await extractLayer(
      tarOf([
        { name: 'srv/', type: 'directory', mode: 0o750, uid: 1234, gid: 2345 },
        { name: 'srv/secret', body: 'x', mode: 0o640, uid: 1234, gid: 50 },
        { name: 'srv/link', type: 'symlink', linkName: 'secret', uid: 7, gid: 8 },
        { name: 'bin/tool', body: 'x', mode: 0o6755, uid: 0, gid: 0 },
      ]),
      rootfs,
    );
    const of = async (path: string) => {
      const stats = await lstat(join(rootfs, path));
      return { uid: stats.uid, gid: stats.gid, mode: stats.mode & 0o7777 };
    };
    expect(await of('srv')).toEqual({ uid: 1234, gid: 2345, mode: 0o750 });
    expect(await of('srv/secret')).toEqual({ uid: 1234, gid: 50, mode: 0o640 });
    expect(await of('srv/link')).toMatchObject({ uid: 7, gid: 8 });
    expect(await of('bin/tool')).toEqual({ uid: 0, gid: 0, mode: 0o755 });
  });
});

describe("an image's User", () => {
  let rootfs: string;
  beforeEach(async () => {
    rootfs = join(root, 'rootfs');
    await mkdir(join(rootfs, 'etc'), { recursive: true });
    await writeFile(join(rootfs, 'etc', 'passwd'), PASSWD);
    await writeFile(join(rootfs, 'etc', 'group'), GROUP);
  });
  const userOf = (User?: string) => imageUser({ config: { User } }, rootfs, 'web');

  it.each([
    [undefined, { uid: 0, gid: 0 }],
    ['', { uid: 0, gid: 0 }],
    ['web', { uid: 1234, gid: 2345 }],
    ['web:staff', { uid: 1234, gid: 50 }],
    ['1234', { uid: 1234, gid: 2345 }], // the primary group of the passwd entry
    ['1000', { uid: 1000, gid: 0 }], // no passwd entry: group root, as Docker does
    ['1000:77', { uid: 1000, gid: 77 }],
    ['1000:webgroup', { uid: 1000, gid: 2345 }],
  ])('%s runs as %o', async (user, expected) => {
    expect(await userOf(user)).toEqual(expected);
  });

  it.each([['ghost'], ['web:nogroup'], ['4294967295']])(
    '%s is refused with APP_START_FAILED',
    async (user) => {
      await expect(userOf(user)).rejects.toThrowWithCode('APP_START_FAILED');
    },
  );

  it('is not looked up through a symlinked /etc/passwd (it could point at the device’s own)', async () => {
    await rm(join(rootfs, 'etc', 'passwd'));
    await writeFile(join(root, 'host-passwd'), PASSWD);
    await symlink(join(root, 'host-passwd'), join(rootfs, 'etc', 'passwd'));
    await expect(userOf('web')).rejects.toThrowWithCode('APP_START_FAILED');
  });
});

/** Apps that say who they run as and write to their volume. */
let images: Record<'named' | 'ghost', OciImage>;
let layouts: string;
beforeAll(async () => {
  layouts = await mkdtemp(join(tmpdir(), 'uproll-user-images-'));
  const files = {
    'etc/passwd': PASSWD,
    'etc/group': GROUP,
    'app/run': '#!/bin/sh\necho "runs as $(id -u):$(id -g)"\necho ran >> /data/runs\nexec sleep 3600\n',
  };
  const layout = join(layouts, 'layout');
  images = {
    named: await busyboxImage(layout, 'named', { files, cmd: ['/app/run'], user: 'web' }),
    ghost: await busyboxImage(layout, 'ghost', { files, cmd: ['/app/run'], user: 'ghost' }),
  };
}, 60_000);
afterAll(() => rm(layouts, { recursive: true, force: true }));

let rig: AgentRig | undefined;
afterEach(async () => {
  if (rig) await closeAppRig(rig);
  rig = undefined;
});

const os = randomArtifacts(1);
const app = (image: OciImage): AppRelease => ({
  name: 'web',
  image,
  volumes: [{ name: 'data', path: '/data' }],
  health: { runningForMs: 300 },
});

describe('an app whose image names a User', { timeout: 60_000 }, () => {
  it('runs as that user, resolved from its own /etc/passwd, and can write its volume', async () => {
    rig = await startAgentRig();
    await rig.release('1.0', os, { apps: [app(images.named)] });
    expect((await rig.update('1.0')).telemetry.at(-1)).toMatchObject({ phase: 'committed' });
    const [status] = await rig.manager.apps.status();
    expect(await readFile(rig.manager.apps.logOf(status!.container), 'utf8')).toContain('runs as 1234:2345');
    expect(await readFile(join(rig.dataDir, 'apps', 'volumes', 'web', 'data', 'runs'), 'utf8')).toBe('ran\n');
  });

  it('is not started when the user is not in its /etc/passwd: APP_START_FAILED', async () => {
    rig = await startAgentRig();
    await rig.release('1.0', os, { apps: [app(images.ghost)] });
    const { telemetry } = await rig.update('1.0');
    expect(telemetry.at(-1)?.error?.code).toBe('APP_START_FAILED');
    expect(await rig.manager.apps.runc.list()).toEqual([]);
  });
});
