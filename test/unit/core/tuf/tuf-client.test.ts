import { beforeEach, describe, expect, it } from 'vitest';
import { NO_CACHE, refreshRepository, TrustedRepository } from '../../../../core/tuf/index.ts';
import { newSigner } from '../../../helpers/keys.ts';
import { MockRepository, NOW, targetOf } from '../../../helpers/mock-repository.ts';
import {
  find,
  guardTrustedState,
  memoryCache,
  refreshed,
  trustedState,
} from '../../../helpers/tuf-client.ts';

const PAST = '2026-01-01T00:00:00Z';
const image = new TextEncoder().encode('rootfs image v2');

let repo: MockRepository;
let anchor: Uint8Array;
beforeEach(async () => {
  repo = new MockRepository();
  repo.targets['rootfs.img'] = targetOf(image);
  anchor = await repo.publishRoot();
  await repo.publish();
});

/** Refreshes `client` and expects the code; the step that failed must not have changed the trusted state. */
async function expectRejected(client: TrustedRepository, code: string, cache = NO_CACHE, now = NOW) {
  const guard = guardTrustedState(client);
  await expect(refreshRepository(client, repo.fetcher, cache, now)).rejects.toMatchObject({ code });
  expect(guard.rejected.at(-1)).toMatchObject({ code });
}

function json(bytes: Uint8Array): { signed: Record<string, unknown>; signatures: unknown[] } {
  return JSON.parse(new TextDecoder().decode(bytes)) as {
    signed: Record<string, unknown>;
    signatures: unknown[];
  };
}

describe('TUF client workflow', () => {
  it('trusts a well-signed repository and finds its target', async () => {
    const client = await refreshed(repo, anchor);
    expect(trustedState(client)).toMatchObject({ root: 1, timestamp: 1, snapshot: 1, targets: 1 });
    expect((await find(client, repo, 'rootfs.img')).target.length).toBe(image.byteLength);
  });

  it('verifies ecdsa-sha2-nistp256 and rsassa-pss-sha256 keys as well as ed25519', async () => {
    repo.signers.timestamp = [newSigner('ecdsa')];
    repo.signers.snapshot = [newSigner('rsa')];
    repo.versions.root = 2;
    await repo.publishRoot(repo.signers.root);
    await repo.publish();
    const client = await refreshed(repo, anchor);
    expect(trustedState(client)).toMatchObject({ root: 2, timestamp: 2, snapshot: 2 });
  });

  it('fetches versioned metadata from a repository with consistent snapshots', async () => {
    repo.consistentSnapshot = true;
    repo.versions.root = 2;
    await repo.publishRoot();
    await repo.publish();
    repo.files.delete('snapshot.json'); // only 2.snapshot.json and 2.targets.json may be used
    repo.files.delete('targets.json');
    const client = await refreshed(repo, anchor);
    expect(trustedState(client)).toMatchObject({ root: 2, snapshot: 2, targets: 2 });
  });

  describe('thresholds', () => {
    it('rejects metadata signed by fewer keys than the threshold', async () => {
      repo.signers.targets.push(newSigner());
      repo.thresholds.targets = 2;
      repo.versions.root = 2;
      await repo.publishRoot();
      const [first] = repo.signers.targets;
      repo.signers.targets = [first!];
      await repo.publish(); // signed by one of the two keys only
      const client = new TrustedRepository(anchor);
      await expectRejected(client, 'THRESHOLD_NOT_MET');
    });

    it('refuses a role that lists a keyid twice', async () => {
      const root = json(await repo.publishRoot()).signed as {
        roles: Record<string, { keyids: string[]; threshold: number }>;
      };
      const keyId = repo.signers.timestamp[0]!.keyId;
      root.roles.timestamp = { keyids: [keyId, keyId], threshold: 2 };
      repo.files.set('2.root.json', await MockRepository.sign({ ...root, version: 2 }, repo.signers.root));
      await expectRejected(new TrustedRepository(anchor), 'BAD_METADATA');
    });

    it('counts one key listed under two keyids once', async () => {
      const root = json(await repo.publishRoot()).signed as {
        keys: Record<string, unknown>;
        roles: Record<string, unknown>;
      };
      const signer = repo.signers.timestamp[0]!;
      root.keys['alias'] = signer.publicKey;
      root.roles.timestamp = { keyids: [signer.keyId, 'alias'], threshold: 2 };
      repo.files.set('2.root.json', await MockRepository.sign({ ...root, version: 2 }, repo.signers.root));
      const timestamp = json(repo.served('timestamp'));
      const sig = (timestamp.signatures[0] as { sig: string }).sig;
      timestamp.signatures.push({ keyid: 'alias', sig });
      repo.files.set('timestamp.json', new TextEncoder().encode(JSON.stringify(timestamp)));
      await expect(refreshed(repo, anchor)).rejects.toMatchObject({ code: 'THRESHOLD_NOT_MET' });
    });

    it('never accepts a threshold of 0', async () => {
      repo.thresholds.timestamp = 0;
      repo.versions.root = 2;
      await repo.publishRoot(repo.signers.root);
      await expectRejected(new TrustedRepository(anchor), 'BAD_METADATA');
    });
  });

  describe('root rotation', () => {
    it('follows a valid chain 1 -> 2 -> 3 that changes keys and thresholds', async () => {
      const v1Keys = repo.signers.root;
      repo.signers.root = [newSigner(), newSigner()];
      repo.thresholds.root = 2;
      repo.versions.root = 2;
      await repo.publishRoot(v1Keys);
      const v2Keys = repo.signers.root;
      repo.signers.root = [newSigner(), newSigner(), newSigner()];
      repo.thresholds.root = 3;
      repo.signers.targets = [newSigner()];
      repo.versions.root = 3;
      await repo.publishRoot(v2Keys);
      await repo.publish();
      const client = await refreshed(repo, anchor);
      expect(trustedState(client)).toMatchObject({ root: 3, targets: 2 });
    });

    it('rejects root N+1 that lacks a threshold of the old root keys', async () => {
      repo.signers.root = [newSigner()];
      repo.versions.root = 2;
      await repo.publishRoot(); // signed by the new key only
      await expectRejected(new TrustedRepository(anchor), 'THRESHOLD_NOT_MET');
    });

    it('rejects root N+1 that lacks a threshold of its own new keys', async () => {
      const old = repo.signers.root;
      repo.signers.root = [newSigner()];
      repo.versions.root = 2;
      await repo.publishRoot([], old); // signed by the old key only
      await expectRejected(new TrustedRepository(anchor), 'THRESHOLD_NOT_MET');
    });

    it('rejects a root that skips a version', async () => {
      repo.versions.root = 3;
      const skipped = await repo.publishRoot();
      repo.files.set('2.root.json', skipped);
      await expectRejected(new TrustedRepository(anchor), 'ROLLBACK_ATTACK');
    });

    it('accepts an expired trusted root when a valid newer root follows', async () => {
      repo.expires.root = PAST;
      const expiredAnchor = await repo.publishRoot();
      repo.expires.root = '2099-01-01T00:00:00Z';
      repo.versions.root = 2;
      await repo.publishRoot();
      const client = await refreshed(repo, expiredAnchor);
      expect(client.root.signed.version).toBe(2);
    });

    it('rejects an expired final root', async () => {
      repo.expires.root = PAST;
      repo.versions.root = 2;
      await repo.publishRoot();
      await expectRejected(new TrustedRepository(anchor), 'FREEZE_ATTACK');
    });

    it('stops a chain longer than the rotation limit', async () => {
      for (let version = 2; version <= 5; version++) {
        repo.versions.root = version;
        await repo.publishRoot();
      }
      const client = new TrustedRepository(anchor, { limits: { maxRootRotations: 3 } });
      await expectRejected(client, 'LIMIT_EXCEEDED');
    });
  });

  describe('timestamp', () => {
    it('rejects a version older than the trusted one', async () => {
      const cache = memoryCache();
      const old = repo.served('timestamp');
      await repo.publishTimestamp();
      const client = await refreshed(repo, anchor, { cache });
      repo.files.set('timestamp.json', old);
      await expectRejected(client, 'OUT_OF_ORDER'); // a refreshed client is past the timestamp step
      await expect(refreshed(repo, anchor, { cache })).rejects.toMatchObject({ code: 'ROLLBACK_ATTACK' });
    });

    it('rejects a newer timestamp that names an older snapshot', async () => {
      const cache = memoryCache();
      await repo.publish(); // snapshot v2
      await refreshed(repo, anchor, { cache });
      repo.versions.snapshot = 1;
      await repo.publishTimestamp(); // timestamp v3 naming snapshot v1
      await expect(refreshed(repo, anchor, { cache })).rejects.toMatchObject({ code: 'ROLLBACK_ATTACK' });
    });

    it('treats the same version as a quiet no-op', async () => {
      const cache = memoryCache();
      await refreshed(repo, anchor, { cache });
      const again = await refreshed(repo, anchor, { cache });
      expect(again.timestamp?.signed.version).toBe(1);
    });

    it('rejects an expired timestamp', async () => {
      repo.expires.timestamp = PAST;
      await repo.publishTimestamp();
      await expectRejected(new TrustedRepository(anchor), 'FREEZE_ATTACK');
    });

    it('rejects a timestamp over its byte cap', async () => {
      repo.files.set('timestamp.json', new Uint8Array(17 * 1024).fill(32));
      await expectRejected(new TrustedRepository(anchor), 'ENDLESS_DATA');
    });

    it('recovers from a fast-forward attack once the timestamp key is rotated', async () => {
      const cache = memoryCache();
      repo.versions.timestamp = 999; // an attacker with the timestamp key signed v1000
      await repo.publishTimestamp();
      await refreshed(repo, anchor, { cache });
      repo.signers.timestamp = [newSigner()]; // the security team rotates the key
      repo.versions.root = 2;
      repo.versions.timestamp = 0;
      await repo.publishRoot();
      await repo.publishTimestamp();
      const client = await refreshed(repo, anchor, { cache });
      expect(client.timestamp?.signed.version).toBe(1);
    });
  });

  describe('snapshot', () => {
    it('rejects a snapshot whose bytes are not the ones the timestamp names (mix-and-match)', async () => {
      const original = repo.served('snapshot');
      await repo.publish();
      repo.files.set('snapshot.json', original);
      await expectRejected(new TrustedRepository(anchor), 'MIX_AND_MATCH');
    });

    it('rejects a snapshot of another version than the timestamp names', async () => {
      repo.versions.snapshot = 7;
      await repo.publishTimestamp(); // names v7 with the hash of the served v1
      await expectRejected(new TrustedRepository(anchor), 'MIX_AND_MATCH');
    });

    it('rejects a snapshot that lowers a targets version', async () => {
      const cache = memoryCache();
      await repo.publish(); // targets v2
      await refreshed(repo, anchor, { cache });
      await repo.publishSnapshot({ 'targets.json': { version: 1 } });
      await expect(refreshed(repo, anchor, { cache })).rejects.toMatchObject({ code: 'ROLLBACK_ATTACK' });
    });

    it('rejects a snapshot that drops a role', async () => {
      const cache = memoryCache();
      await refreshed(repo, anchor, { cache });
      await repo.publishSnapshot({});
      await expect(refreshed(repo, anchor, { cache })).rejects.toMatchObject({ code: 'ROLLBACK_ATTACK' });
    });

    it('rejects an expired snapshot', async () => {
      repo.expires.snapshot = PAST;
      await repo.publish();
      await expectRejected(new TrustedRepository(anchor), 'FREEZE_ATTACK');
    });
  });

  describe('targets', () => {
    it('rejects targets of another version than the snapshot names', async () => {
      const original = repo.served('targets');
      repo.hashesInSnapshot = false;
      await repo.publish();
      repo.files.set('targets.json', original);
      await expectRejected(new TrustedRepository(anchor), 'MIX_AND_MATCH');
    });

    it('rejects expired targets', async () => {
      repo.expires.targets = PAST;
      await repo.publish();
      await expectRejected(new TrustedRepository(anchor), 'FREEZE_ATTACK');
    });

    it('rejects a target path that climbs out of its directory', async () => {
      const client = await refreshed(repo, anchor);
      await expect(find(client, repo, '../etc/passwd')).rejects.toMatchObject({
        code: 'INVALID_TARGET_PATH',
      });
    });

    it('finds a target under another Unicode spelling of its name (NFC)', async () => {
      repo.targets['caf\u00e9.img'] = targetOf(image);
      await repo.publish();
      const client = await refreshed(repo, anchor);
      expect((await find(client, repo, 'cafe\u0301.img')).path).toBe('caf\u00e9.img');
    });
  });

  describe('metadata format', () => {
    it('rejects metadata of the wrong _type', async () => {
      repo.files.set('timestamp.json', repo.served('snapshot'));
      await expectRejected(new TrustedRepository(anchor), 'BAD_METADATA');
    });

    it('rejects an unsupported spec major version', async () => {
      const root = json(await repo.publishRoot()).signed;
      repo.files.set(
        '2.root.json',
        await MockRepository.sign({ ...root, version: 2, spec_version: '2.0.0' }, repo.signers.root),
      );
      await expectRejected(new TrustedRepository(anchor), 'BAD_METADATA');
    });

    it('rejects values canonical JSON cannot encode (found by the fuzz tests)', async () => {
      const timestamp = json(repo.served('timestamp'));
      timestamp.signed.version = 1.5;
      repo.files.set('timestamp.json', new TextEncoder().encode(JSON.stringify(timestamp)));
      await expectRejected(new TrustedRepository(anchor), 'BAD_METADATA');
    });

    it('keeps unrecognized fields and covers them with the signatures', async () => {
      repo.rootExtra = { x_uproll_note: 'kept' };
      repo.versions.root = 2;
      const signedRoot = await repo.publishRoot();
      const client = await refreshed(repo, anchor);
      expect(client.root.signed.unrecognizedFields).toMatchObject({ x_uproll_note: 'kept' });

      const tampered = json(signedRoot);
      tampered.signed.x_uproll_note = 'changed';
      repo.files.set('2.root.json', new TextEncoder().encode(JSON.stringify(tampered)));
      await expectRejected(new TrustedRepository(anchor), 'THRESHOLD_NOT_MET');
    });
  });

  describe('the ordered state machine', () => {
    it('refuses a snapshot before a timestamp', () => {
      const client = new TrustedRepository(anchor);
      client.finishRootUpdates(NOW);
      expect(() => client.updateSnapshot(repo.served('snapshot'), NOW)).toThrowWithCode('OUT_OF_ORDER');
    });

    it('refuses metadata for a role that nobody delegates to', async () => {
      const client = await refreshed(repo, anchor);
      expect(() =>
        client.updateDelegatedTargets('stranger', 'targets', repo.served('targets'), NOW),
      ).toThrowWithCode('TARGET_NOT_FOUND');
    });

    it('refuses a timestamp before the root chain is finished', () => {
      const client = new TrustedRepository(anchor);
      expect(() => client.updateTimestamp(repo.served('timestamp'), NOW)).toThrowWithCode('OUT_OF_ORDER');
    });
  });
});
