import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { TargetVerifier, verifyTargetBytes } from '../../../../core/tuf/index.ts';
import { newSigner } from '../../../helpers/keys.ts';
import { MockRepository, targetOf } from '../../../helpers/mock-repository.ts';
import { find, memoryCache, refreshed } from '../../../helpers/tuf-client.ts';

const bytes = (text: string) => new TextEncoder().encode(text);
const json = (metadata: Uint8Array) =>
  JSON.parse(new TextDecoder().decode(metadata)) as { signed: Record<string, unknown> };

describe('delegated targets', () => {
  let repo: MockRepository;
  let anchor: Uint8Array;
  beforeEach(async () => {
    repo = new MockRepository();
    anchor = await repo.publishRoot();
  });

  it('finds a target through a delegation whose paths match', async () => {
    repo.delegate({
      name: 'releases',
      paths: ['rootfs/*'],
      targets: { 'rootfs/v2.img': targetOf(bytes('v2')) },
    });
    await repo.publish();
    const found = await find(await refreshed(repo, anchor), repo, 'rootfs/v2.img');
    expect(found.role).toBe('releases');
  });

  it('does not find a target listed by a role whose delegation does not cover its path', async () => {
    repo.delegate({
      name: 'releases',
      paths: ['apps/*'],
      targets: { 'rootfs/v2.img': targetOf(bytes('v2')) },
    });
    await repo.publish();
    await expect(find(await refreshed(repo, anchor), repo, 'rootfs/v2.img')).rejects.toMatchObject({
      code: 'TARGET_NOT_FOUND',
    });
  });

  it('stops at a terminating delegation that does not list the target', async () => {
    repo.delegate({ name: 'first', paths: ['rootfs/*'], terminating: true });
    repo.delegate({
      name: 'second',
      paths: ['rootfs/*'],
      targets: { 'rootfs/v2.img': targetOf(bytes('v2')) },
    });
    await repo.publish();
    await expect(find(await refreshed(repo, anchor), repo, 'rootfs/v2.img')).rejects.toMatchObject({
      code: 'TARGET_NOT_FOUND',
    });
  });

  it('searches the next delegation after a non-terminating one', async () => {
    repo.delegate({ name: 'first', paths: ['rootfs/*'] });
    repo.delegate({
      name: 'second',
      paths: ['rootfs/*'],
      targets: { 'rootfs/v2.img': targetOf(bytes('v2')) },
    });
    await repo.publish();
    expect((await find(await refreshed(repo, anchor), repo, 'rootfs/v2.img')).role).toBe('second');
  });

  it('rejects a delegated role the snapshot does not list', async () => {
    repo.delegate({ name: 'releases', targets: { 'v2.img': targetOf(bytes('v2')) } });
    await repo.publish();
    await repo.publishSnapshot({ 'targets.json': { version: repo.versions.targets } });
    await expect(find(await refreshed(repo, anchor), repo, 'v2.img')).rejects.toMatchObject({
      code: 'MIX_AND_MATCH',
    });
  });

  it('ends a delegation cycle instead of looping', async () => {
    const a = repo.delegate({ name: 'a' });
    repo.delegate({ name: 'b', delegator: 'a' });
    repo.delegations.push({ ...a, delegator: 'b' }); // b delegates back to a
    await repo.publish();
    await expect(find(await refreshed(repo, anchor), repo, 'missing.img')).rejects.toMatchObject({
      code: 'TARGET_NOT_FOUND',
    });
  });

  it('loads no more delegated roles than the limit', async () => {
    let delegator = 'targets';
    for (let depth = 0; depth < 5; depth++) {
      repo.delegate({ name: `level${depth}`, delegator });
      delegator = `level${depth}`;
    }
    await repo.publish();
    const client = await refreshed(repo, anchor);
    Object.assign(client.limits, { maxDelegations: 3 });
    await expect(find(client, repo, 'deep.img')).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
  });

  describe('when two delegators delegate the same role name (a diamond)', () => {
    // TUF 5.6.7: a role is trusted as reached from its delegator in this lookup.
    // `release` is delegated by parent-a for team-a/* and by parent-b for
    // team-b/*, each with a key of its own; only parent-a's key signs it.
    const listed = { 'team-a/app.img': targetOf(bytes('trusted A')), 'team-b/app.img': targetOf(bytes('B')) };
    beforeEach(async () => {
      repo.delegate({ name: 'parent-a', paths: ['team-a/*'] });
      repo.delegate({ name: 'parent-b', paths: ['team-b/*'] });
      repo.delegate({ name: 'release', delegator: 'parent-b', paths: ['team-b/*'], targets: listed });
      // Published last, so the served release.json is the one signed by parent-a's key for it.
      repo.delegate({ name: 'release', delegator: 'parent-a', paths: ['team-a/*'], targets: listed });
      await repo.publish();
    });

    it('finds the target through the delegator whose keys signed the role', async () => {
      const found = await find(await refreshed(repo, anchor), repo, 'team-a/app.img');
      expect(found.role).toBe('release');
    });

    it('does not lend that trust to the other delegator when the role is reached through it later', async () => {
      const client = await refreshed(repo, anchor);
      await find(client, repo, 'team-a/app.img');
      await expect(find(client, repo, 'team-b/app.img')).rejects.toMatchObject({
        code: 'THRESHOLD_NOT_MET',
      });
      // ... and the role stays trusted where it verified.
      expect((await find(client, repo, 'team-a/app.img')).role).toBe('release');
    });
  });

  describe('when a lookup fails after delegated roles verified', () => {
    it('has saved each verified role already, and no role that failed verification', async () => {
      repo.hashesInSnapshot = false; // so only the signature can catch the swap
      repo.delegate({ name: 'releases' });
      repo.delegate({ name: 'forged' });
      await repo.publish();
      repo.files.set(
        'forged.json',
        await MockRepository.sign(json(repo.served('forged')).signed, [newSigner()]),
      );
      const cache = memoryCache();
      const client = await refreshed(repo, anchor, { cache });
      await expect(find(client, repo, 'missing.img', cache)).rejects.toMatchObject({
        code: 'THRESHOLD_NOT_MET',
      });
      expect(cache.files.get('releases')).toEqual(repo.served('releases'));
      expect(cache.files.has('forged')).toBe(false);
    });
  });

  it('rejects a delegated role signed by a key its delegator does not list', async () => {
    repo.hashesInSnapshot = false; // so only the signature can catch the swap
    repo.delegate({ name: 'releases', targets: { 'v2.img': targetOf(bytes('v2')) } });
    await repo.publish();
    const forged = await MockRepository.sign(json(repo.served('releases')).signed, [newSigner()]);
    repo.files.set('releases.json', forged);
    await expect(find(await refreshed(repo, anchor), repo, 'v2.img')).rejects.toMatchObject({
      code: 'THRESHOLD_NOT_MET',
    });
  });
});

describe('target bytes', () => {
  const image = bytes('the image the metadata vouches for');
  const info = targetOf(image);

  it('accepts exactly the bytes the metadata lists', () => {
    expect(() => verifyTargetBytes(image, info, 'rootfs.img')).not.toThrow();
  });

  it('rejects tampered bytes of the same length', () => {
    const tampered = Uint8Array.from(image);
    tampered[0] = (tampered[0] ?? 0) ^ 1;
    expect(() => verifyTargetBytes(tampered, info, 'rootfs.img')).toThrowWithCode('HASH_MISMATCH');
  });

  it('rejects bytes when one of two listed hashes is wrong', () => {
    const both = {
      ...info,
      hashes: { ...info.hashes, sha512: createHash('sha512').update('other').digest('hex') },
    };
    expect(() => verifyTargetBytes(image, both, 'rootfs.img')).toThrowWithCode('HASH_MISMATCH');
  });

  it('stops a stream the moment it passes the listed length (endless data)', () => {
    const verifier = new TargetVerifier(info, 'rootfs.img');
    verifier.update(image);
    expect(() => verifier.update(bytes('x'))).toThrowWithCode('ENDLESS_DATA');
  });

  it('rejects a stream that ends short', () => {
    const verifier = new TargetVerifier(info, 'rootfs.img');
    verifier.update(image.subarray(1));
    expect(() => verifier.finish()).toThrowWithCode('LENGTH_MISMATCH');
  });

  it('refuses metadata that lists no hash it can check', () => {
    expect(() => new TargetVerifier({ length: 1, hashes: { md5: 'x' } }, 'x')).toThrowWithCode(
      'BAD_METADATA',
    );
  });
});
