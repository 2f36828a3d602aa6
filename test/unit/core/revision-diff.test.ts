import { describe, expect, it } from 'vitest';
import { revisionDiff, stateRevisionSchema, type AppInput } from '../../../core/index.ts';

const sha = (c: string) => c.repeat(64);
const file = (path: string, c: string, length = 100) => ({ path, sha256: sha(c), length });
const app = (name: string, manifest: string, layer: string): AppInput => ({
  name,
  image: { manifest: sha(manifest) },
  blobs: [
    { sha256: sha(manifest), length: 10 },
    { sha256: sha(layer), length: 5000 },
  ],
});
const revision = (name: string, fields: Record<string, unknown>) =>
  stateRevisionSchema.parse({ kind: 'uproll.state-revision/v1', name, artifacts: [], ...fields });

describe('the diff of two revisions', () => {
  const v1 = revision('v1', {
    artifacts: [file('bin/app', '1'), file('etc/conf', '2'), file('old', '3')],
    apps: [app('web', '4', '5'), app('db', '6', '7')],
  });
  const v2 = revision('v2', {
    artifacts: [file('bin/app', '8', 300), file('etc/conf', '2'), file('new', '9', 50)],
    apps: [app('web', 'a', '5'), app('db', '6', '7'), app('cache', 'b', 'c')],
  });

  it('names the artifacts added, removed and changed, by path, and the apps, by name', () => {
    const diff = revisionDiff(v1, v2);
    expect(diff.artifacts).toEqual({ added: ['new'], removed: ['old'], changed: ['bin/app'], unchanged: 1 });
    expect(diff.apps).toEqual({ added: ['cache'], removed: [], changed: ['web'], unchanged: 1 });
  });

  it('counts the bytes a device on the first downloads: only the objects it does not hold, each once', () => {
    // bin/app (300), new (50), web's new manifest (10; its layer is held), cache's manifest and layer (5010).
    expect(revisionDiff(v1, v2).download).toEqual({
      objects: 5,
      bytes: 5370,
      ofBytes: 300 + 100 + 50 + 3 * 5010,
    });
    expect(revisionDiff(v2, v2).download).toMatchObject({ objects: 0, bytes: 0 });
  });

  it('says whether the OS changes: its OSTree commit or its rootfs image', () => {
    const os = (commit: string) => revision(`os-${commit}`, { ostree: { commit: sha(commit) } });
    expect(revisionDiff(os('1'), os('2')).os).toEqual({
      changes: true,
      from: `ostree:${sha('1')}`,
      to: `ostree:${sha('2')}`,
    });
    expect(revisionDiff(os('1'), os('1')).os.changes).toBe(false);
    const image = revision('img', { artifacts: [{ ...file('rootfs.img', 'd'), image: 'rootfs' }] });
    expect(revisionDiff(v1, image).os).toEqual({ changes: true, to: `rootfs:${sha('d')}` });
    expect(revisionDiff(v1, v2).os).toEqual({ changes: false });
  });
});
