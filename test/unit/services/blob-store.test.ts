import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileBlobStore } from '../../../services/repo/index.ts';

describe('file blob store', () => {
  it('puts, gets and lists by key', async () => {
    const store = new FileBlobStore(await mkdtemp(join(tmpdir(), 'uproll-blobs-')));
    await store.put('targets/apps/web.tar', new TextEncoder().encode('web'));
    expect(new TextDecoder().decode(await store.get('targets/apps/web.tar'))).toBe('web');
    expect(await store.get('targets/none')).toBeUndefined();
    expect(await store.list('targets/')).toEqual(['apps']);
  });

  it.each(['../escape', 'a/../../b', '/', 'a/./b', 'a\\\\b'])('refuses the key %j', async (key) => {
    const store = new FileBlobStore(await mkdtemp(join(tmpdir(), 'uproll-blobs-')));
    await expect(store.put(key, new Uint8Array())).rejects.toThrowWithCode('INVALID_INPUT');
  });
});
