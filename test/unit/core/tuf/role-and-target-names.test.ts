import { basename } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  findTarget,
  repositoryFileName,
  roleFetcher,
  roleFileName,
  targetsSigned,
  targetUrlPath,
  type MetadataFetcher,
} from '../../../../core/tuf/index.ts';
import { newSigner } from '../../../helpers/keys.ts';
import { MockRepository, NOW } from '../../../helpers/mock-repository.ts';
import { memoryCache, refreshed } from '../../../helpers/tuf-client.ts';

// Role names come from metadata. Where one becomes a URL or a file name it is
// percent-encoded as python-tuf's `urllib.parse.quote(name, '')` does: a name
// can never add a path segment, a query or a fragment, nor leave a directory.
const UNUSUAL_ROLES: [role: string, encoded: string][] = [
  ['?', '%3F'],
  ['#', '%23'],
  ['/delegatedrole', '%2Fdelegatedrole'],
  ['../delegatedrole', '..%2Fdelegatedrole'],
  ['x/../../../escape', 'x%2F..%2F..%2F..%2Fescape'],
];

describe.each(UNUSUAL_ROLES)('a delegated role named %j', (role, encoded) => {
  let repo: MockRepository;
  let anchor: Uint8Array;
  let requested: string[];
  let fetcher: MetadataFetcher;
  beforeEach(async () => {
    repo = new MockRepository();
    repo.consistentSnapshot = true;
    repo.delegate({ name: role });
    anchor = await repo.publishRoot();
    await repo.publish();
    requested = [];
    fetcher = (fileName, maxBytes) => {
      requested.push(fileName);
      return repo.fetcher(fileName, maxBytes);
    };
  });

  it('is fetched as one percent-encoded file name, and kept though the lookup ends in TARGET_NOT_FOUND', async () => {
    const cache = memoryCache();
    const client = await refreshed(repo, anchor, { cache });
    await expect(
      findTarget(client, 'nonexistent target', roleFetcher(client, fetcher), NOW, cache),
    ).rejects.toMatchObject({ code: 'TARGET_NOT_FOUND' });
    expect(requested).toEqual([`1.${encoded}.json`]);
    expect(cache.files.get(role)).toEqual(repo.served(role));
  });

  it('is stored under a file name that stays in its directory', () => {
    expect(roleFileName(role)).toBe(`${encoded}.json`);
    expect(basename(roleFileName(role))).toBe(roleFileName(role));
  });

  it('is refused by the repository writer (INVALID_ROLE_NAME)', () => {
    expect(() => repositoryFileName(role, 1)).toThrowWithCode('INVALID_ROLE_NAME');
    const delegation = { name: role, keys: [newSigner().publicKey], threshold: 1, paths: ['*'] };
    expect(() =>
      targetsSigned({
        version: 1,
        expires: NOW,
        targets: {},
        delegations: [{ ...delegation, terminating: false }],
      }),
    ).toThrowWithCode('INVALID_ROLE_NAME');
  });
});

describe('role names that cannot be encoded', () => {
  it('refuses a role name that is not well-formed Unicode (a lone surrogate has no UTF-8)', () => {
    expect(() => roleFileName('release\ud800')).toThrowWithCode('INVALID_ROLE_NAME');
  });

  it('writes a plain role name as it is', () => {
    expect(repositoryFileName('releases', 3)).toBe('3.releases.json');
  });
});

describe('target paths as URLs', () => {
  it('percent-encodes each segment, keeping the separators', () => {
    expect(targetUrlPath('apps/a?b#c d.img')).toBe('apps/a%3Fb%23c%20d.img');
  });

  it('prefixes the last segment with the hash when asked (consistent snapshots)', () => {
    expect(targetUrlPath('apps/a?.img', 'abc')).toBe('apps/abc.a%3F.img');
  });

  it('refuses a path that could leave the targets URL (INVALID_TARGET_PATH)', () => {
    expect(() => targetUrlPath('apps/../../escape')).toThrowWithCode('INVALID_TARGET_PATH');
  });

  it('is refused by the repository writer when it could leave a directory', () => {
    expect(() =>
      targetsSigned({
        version: 1,
        expires: NOW,
        targets: { '../escape': { length: 1, hashes: { sha256: '00' } } },
      }),
    ).toThrowWithCode('INVALID_TARGET_PATH');
  });
});
