import { describe, expect, it } from 'vitest';
import { missingObjects, startOrder, stateRevisionSchema, type AppInput } from '../../../core/index.ts';

const sha = (c: string) => c.repeat(64);
const app = (name: string, extra: Partial<AppInput> = {}): AppInput => ({
  name,
  image: { manifest: sha('a') },
  blobs: [
    { sha256: sha('a'), length: 400 },
    { sha256: sha('b'), length: 300 },
    { sha256: sha('c'), length: 1000 },
  ],
  ...extra,
});
const revision = (apps: AppInput[]) => ({
  kind: 'uproll.state-revision/v1',
  name: '1.0',
  artifacts: [],
  apps,
});

describe('apps in a state revision', () => {
  it('may be all a revision holds', () => {
    expect(stateRevisionSchema.safeParse(revision([app('web')])).success).toBe(true);
  });

  it('lists every blob as an object to fetch, a layer two apps share once', () => {
    const parsed = stateRevisionSchema.parse(revision([app('web'), app('db')]));
    expect(missingObjects(parsed, new Set([sha('b')])).map((o) => o.sha256)).toEqual([sha('a'), sha('c')]);
  });

  it('are started after the apps they name', () => {
    const order = startOrder([
      { name: 'web', after: ['db'] },
      { name: 'db', after: ['cache'] },
      { name: 'cache' },
    ]);
    expect(order?.map((a) => a.name)).toEqual(['cache', 'db', 'web']);
  });

  it.each([
    ['a cycle in `after`', [app('x', { after: ['y'] }), app('y', { after: ['x'] })]],
    ['an `after` naming no app', [app('x', { after: ['nope'] })]],
    ['two apps of one name', [app('x'), app('x')]],
    [
      'a blob list without the manifest',
      [
        app('x', {
          blobs: [
            { sha256: sha('b'), length: 1 },
            { sha256: sha('c'), length: 1 },
          ],
        }),
      ],
    ],
    ['a volume mounted at a path with ..', [app('x', { volumes: [{ name: 'data', path: '/var/../etc' }] })]],
    ['an app name that is not a plain token', [app('../x')]],
    ['an unknown restart policy', [app('x', { restart: 'sometimes' as 'no' })]],
    ['a field the schema does not know', [{ ...app('x'), privileged: true }]],
  ])('refuse %s', (_, apps) => {
    expect(stateRevisionSchema.safeParse(revision(apps as AppInput[])).success).toBe(false);
  });
});
