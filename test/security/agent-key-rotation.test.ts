import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Signer } from '../../core/tuf/index.ts';
import { verifyDeviceManifest } from '../../core/uptane/index.ts';
import { ceremonyStatus, proposeRoot, signRootProposal } from '../../keys/index.ts';
import { MetadataFiles } from '../../services/repo/index.ts';
import { randomArtifacts, startAgentRig, type AgentRig } from '../helpers/agent-rig.ts';
import { fileTree } from '../helpers/file-tree.ts';
import { newSigner } from '../helpers/keys.ts';

/*
 * A device's trusted roots change only through a verified rotation chain
 * (TUF 5.3): root N+1 signed by a threshold of root N's keys and of its own.
 * Only the Image repository rotates here; the Director's rotation, driven by
 * the CLI and the worker, is in director-key-rotation.test.ts.
 */

const DAY = 24 * 60 * 60 * 1000;
const inDays = (days: number) => new Date(Date.now() + days * DAY);

let rig: AgentRig;
afterEach(() => rig?.close());

const imageMetadata = () => rig.repos.image.metadataDir;
/** The Image root the device trusts now, as it keeps it on disk. */
const trustedImageRoot = () => readFile(join(rig.dataDir, 'trust', 'image', 'root.json'));
const versionOf = (root: Uint8Array) =>
  (JSON.parse(Buffer.from(root).toString('utf8')) as { signed: { version: number } }).signed.version;

/** Keys for root v2: a new root key and new online snapshot and timestamp keys. */
function nextKeys() {
  return { root: newSigner(), snapshot: newSigner(), timestamp: newSigner() };
}
type NextKeys = ReturnType<typeof nextKeys>;

/** Root v2 proposed from the served root: every key of root, snapshot and timestamp replaced by `keys`. */
async function proposeRotation(keys: NextKeys) {
  const current = await rig.repos.image.currentRootBytes();
  const proposal = await proposeRoot(current, {
    replace: {
      root: [keys.root.publicKey],
      snapshot: [keys.snapshot.publicKey],
      timestamp: [keys.timestamp.publicKey],
    },
    expires: inDays(365),
  });
  return { current, proposal };
}

async function signedBy(proposal: Uint8Array, signers: readonly Signer[]) {
  for (const signer of signers) proposal = await signRootProposal(proposal, signer);
  return proposal;
}

/**
 * The Image repository rotates its root honestly: v2 signed by the old and
 * the new root key, published with `publishRoot`; from then on it signs with
 * the keys v2 names. Returns the keys it replaced.
 */
async function rotateImageRoot() {
  const signers = rig.repos.imageSigners;
  const keys = nextKeys();
  const { current, proposal } = await proposeRotation(keys);
  const signed = await signedBy(proposal, [...signers.root, keys.root]);
  expect(ceremonyStatus(current, signed).complete).toBe(true);
  const versions = await rig.repos.image.publishRoot(
    signed,
    { snapshot: [keys.snapshot], timestamp: [keys.timestamp] },
    new Date(),
  );
  expect(versions.root).toBe(2);
  const old = { root: signers.root, snapshot: signers.snapshot, timestamp: signers.timestamp };
  Object.assign(signers, { root: [keys.root], snapshot: [keys.snapshot], timestamp: [keys.timestamp] });
  return old;
}

/** What "installs nothing" leaves unchanged: boot control, slot files and objects held. */
async function installedState() {
  return {
    control: await rig.manager.boot.read(),
    slots: await fileTree(join(rig.dataDir, 'slots')),
    objects: [...(await rig.manager.objects.present())].sort(),
  };
}

/** A device committed on revision 1.0, trusting Image root v1. */
async function deviceOnFirstRevision() {
  rig = await startAgentRig();
  await rig.release('1.0', randomArtifacts(1));
  const { telemetry } = await rig.update('1.0');
  expect(telemetry.at(-1)).toMatchObject({ phase: 'committed' });
  expect(versionOf(await trustedImageRoot())).toBe(1);
}

/** The last signed manifest the device journaled, verified with its key. */
async function lastManifest() {
  const manifests = (await rig.manager.journal.after(0)).filter((e) => e.kind === 'manifest');
  const serial = `${rig.deviceId}-primary`;
  const manifest = verifyDeviceManifest(Buffer.from(JSON.stringify(manifests.at(-1)?.body)), {
    deviceKey: rig.identity.deviceKey.publicKey,
    ecuKeys: { [serial]: rig.identity.deviceKey.publicKey },
  });
  return { manifest, report: manifest.ecuVersionReports[serial]?.signed };
}

/** A timestamp over the served snapshot, at a version above the served one, signed by `signers`. */
async function stampWith(signers: readonly Signer[]) {
  const files = new MetadataFiles(imageMetadata());
  const served = await files.served();
  await files.stamp(
    { snapshot: served.snapshot, timestamp: served.timestamp + 10 },
    await files.read(`${served.snapshot}.snapshot.json`),
    signers,
    inDays(1),
  );
}

describe('an Image root rotation', () => {
  it('signed by a threshold of the old and the new root keys: the device follows it to v2 and says so', async () => {
    await deviceOnFirstRevision();
    await rotateImageRoot();
    await rig.release('2.0', randomArtifacts(1)); // signed with the new snapshot and timestamp keys

    const { telemetry } = await rig.update('2.0');
    expect(telemetry.at(-1)).toMatchObject({ phase: 'committed' });
    expect(await rig.manager.boot.read()).toMatchObject({ active: { revision: '2.0' }, trial: false });
    const trusted = await trustedImageRoot();
    expect(versionOf(trusted)).toBe(2);
    expect(trusted).toEqual(await readFile(join(imageMetadata(), '2.root.json')));
    const { manifest, report } = await lastManifest();
    expect(manifest.trustedRoots).toEqual({ image: 2, director: 1 });
    expect(report).toMatchObject({ attacksDetected: '' });
  });

  it('signed only by the new keys, not the trusted root key: THRESHOLD_NOT_MET, nothing installed, v1 kept', async () => {
    await deviceOnFirstRevision();
    await rig.release('2.0', randomArtifacts(1)); // honest; only the root chain is forged
    const before = await installedState();
    const trustedBefore = await trustedImageRoot();

    // An attacker who never held the root key serves a whole repository state under its own keys:
    // were root v2 accepted, everything after it would verify and 2.0 would install.
    const keys = nextKeys();
    const { current, proposal } = await proposeRotation(keys);
    const forged = await signedBy(proposal, [keys.root]);
    expect(ceremonyStatus(current, forged)).toMatchObject({
      byCurrentRoot: { have: 0, need: 1 },
      byProposedRoot: { have: 1, need: 1 },
    });
    await writeFile(join(imageMetadata(), '2.root.json'), forged);
    await writeFile(join(imageMetadata(), 'root.json'), forged);
    const files = new MetadataFiles(imageMetadata());
    const served = await files.served();
    await files.commit(
      served,
      { targets: served.roles['targets'] ?? 0, releases: served.roles['releases'] ?? 0 },
      { snapshot: [keys.snapshot], timestamp: [keys.timestamp] },
      { snapshot: inDays(7), timestamp: inDays(1) },
    );

    const { telemetry } = await rig.update('2.0');
    expect(telemetry).toMatchObject([{ phase: 'failed', error: { code: 'THRESHOLD_NOT_MET' } }]);
    expect(await installedState()).toEqual(before);
    expect(await trustedImageRoot()).toEqual(trustedBefore);
    const { manifest, report } = await lastManifest();
    expect(manifest.trustedRoots).toEqual({ image: 1, director: 1 });
    expect(report).toMatchObject({ attacksDetected: 'THRESHOLD_NOT_MET' });
  });
});

describe('after an Image root rotation, metadata signed with a replaced (revoked) key', () => {
  it('a timestamp signed with the old timestamp key is refused by a device that trusts v2', async () => {
    await deviceOnFirstRevision();
    const old = await rotateImageRoot();
    await rig.release('2.0', randomArtifacts(1));
    expect((await rig.update('2.0')).telemetry.at(-1)).toMatchObject({ phase: 'committed' });
    expect(versionOf(await trustedImageRoot())).toBe(2);

    await rig.release('3.0', randomArtifacts(1)); // honest snapshot; only the timestamp is forged
    const before = await installedState();
    await stampWith(old.timestamp);
    const { telemetry } = await rig.update('3.0');
    expect(telemetry).toMatchObject([{ phase: 'failed', error: { code: 'THRESHOLD_NOT_MET' } }]);
    expect(await installedState()).toEqual(before);
  });

  it('is refused too by a device that still trusted v1 (and so that key) when the rotation happened', async () => {
    await deviceOnFirstRevision();
    const old = await rotateImageRoot();
    await rig.release('2.0', randomArtifacts(1));
    const before = await installedState();
    // TUF 5.3.11: the device first walks to root v2, and only v2's timestamp keys count from then on.
    await stampWith(old.timestamp);
    const { telemetry } = await rig.update('2.0');
    expect(telemetry).toMatchObject([{ phase: 'failed', error: { code: 'THRESHOLD_NOT_MET' } }]);
    expect(await installedState()).toEqual(before);
    // Root v2 itself was validly rotated to, so the device keeps trusting it.
    expect(versionOf(await trustedImageRoot())).toBe(2);
  });

  it('(control) the same timestamp signed with the new key is accepted', async () => {
    await deviceOnFirstRevision();
    await rotateImageRoot();
    await rig.release('2.0', randomArtifacts(1));
    await stampWith(rig.repos.imageSigners.timestamp);
    expect((await rig.update('2.0')).telemetry.at(-1)).toMatchObject({ phase: 'committed' });
  });
});
