import { describe, expect, it } from 'vitest';
import { runtimeSpec } from '../../../../agent/index.ts';
import { appSchema, type AppInput } from '../../../../core/index.ts';

const sha = 'a'.repeat(64);
const appOf = (extra: Partial<AppInput> = {}) =>
  appSchema.parse({
    name: 'web',
    image: { manifest: sha },
    blobs: [
      { sha256: sha, length: 1 },
      { sha256: 'b'.repeat(64), length: 1 },
    ],
    ...extra,
  });
const image = {
  config: { Entrypoint: ['/bin/web'], Cmd: ['--port', '80'], Env: ['PATH=/bin', 'MODE=image'] },
};

describe('the runtime config of an app', () => {
  it("runs the image's Entrypoint and Cmd, with the image's environment", () => {
    const spec = runtimeSpec(appOf(), image, new Map());
    expect(spec.process.args).toEqual(['/bin/web', '--port', '80']);
    expect(spec.process.env).toEqual(expect.arrayContaining(['PATH=/bin', 'MODE=image', 'UPROLL_APP=web']));
  });

  it("runs the revision's command and env over the image's", () => {
    const spec = runtimeSpec(
      appOf({ command: ['/bin/sh', '-c', 'echo hi'], env: { MODE: 'revision' } }),
      image,
      new Map(),
    );
    expect(spec.process.args).toEqual(['/bin/sh', '-c', 'echo hi']);
    expect(spec.process.env).toContain('MODE=revision');
    expect(spec.process.env).not.toContain('MODE=image');
  });

  it('binds each volume read-write at its path, on a read-only rootfs without new privileges', () => {
    const spec = runtimeSpec(
      appOf({ volumes: [{ name: 'data', path: '/var/lib/web' }] }),
      image,
      new Map([['data', '/device/apps/volumes/web/data']]),
    );
    expect(spec.mounts).toContainEqual(
      expect.objectContaining({
        destination: '/var/lib/web',
        type: 'bind',
        source: '/device/apps/volumes/web/data',
      }),
    );
    expect(spec.root.readonly).toBe(true);
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(spec.linux.namespaces).toContainEqual({ type: 'network' });
    expect(spec.process.capabilities.bounding).not.toContain('CAP_SYS_ADMIN');
  });

  it('runs as the user it is given (the image\u2019s User, resolved), else as root', () => {
    expect(runtimeSpec(appOf(), image, new Map(), { uid: 1234, gid: 2345 }).process.user).toEqual({
      uid: 1234,
      gid: 2345,
    });
    expect(runtimeSpec(appOf(), image, new Map()).process.user).toEqual({ uid: 0, gid: 0 });
  });

  it('is refused with APP_START_FAILED when neither the revision nor the image names a command', () => {
    expect(() => runtimeSpec(appOf(), { config: {} }, new Map())).toThrowWithCode('APP_START_FAILED');
  });
});
