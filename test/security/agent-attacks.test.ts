import { createHash, randomBytes } from 'node:crypto';
import { appendFile, copyFile, cp, readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { revisionTargetPath, type UprollErrorCode } from '../../core/index.ts';
import {
  DEFAULT_LIMITS,
  describeFile,
  rootSigned,
  signEnvelope,
  targetsSigned,
  type DelegationSpec,
  type Signer,
  type TargetSpec,
} from '../../core/tuf/index.ts';
import { verifyDeviceManifest } from '../../core/uptane/index.ts';
import { MetadataFiles } from '../../services/repo/index.ts';
import { randomArtifacts, startAgentRig, type AgentRig } from '../helpers/agent-rig.ts';
import { newSigner } from '../helpers/keys.ts';

/*
 * Every attack code of the trust core, detected end to end: a device runs a
 * good revision, its repository turns malicious (files edited on disk, or
 * metadata signed with keys the attacker holds), the device is commanded to
 * update, and it installs nothing and reports the attack to the fleet
 * (telemetry) and to the Director (its signed manifest).
 */

const DAY = 24 * 60 * 60 * 1000;
const inDays = (days: number) => new Date(Date.now() + days * DAY);

let rig: AgentRig;
afterEach(() => rig?.close());

// --- The repositories as an attacker edits them -------------------------------------------------

/** Where the Image repository's metadata is served from. */
const imageMetadata = () => join(rig.repos.image.dir, 'metadata');
/** Where the Director's metadata for this device is served from. */
const directorMetadata = (deviceId = rig.deviceId) =>
  join(rig.repos.director.dir, 'devices', deviceId, 'metadata');
/** Where the Image repository serves an object (an artifact's bytes). */
const servedObject = (sha256: string) => join(rig.repos.image.dir, 'targets', 'objects', sha256);

/** A Director target naming this device's primary ECU. */
function forPrimary(file: { length: number; hashes: Record<string, string> }, hardwareId?: string) {
  const [ecu] = rig.identity.device.ecus;
  if (!ecu) throw new Error('the rig device has no ECU');
  return {
    ...file,
    custom: { ecuIdentifiers: { [ecu.serial]: { hardwareId: hardwareId ?? ecu.hardwareId } } },
  } satisfies TargetSpec;
}

/** A revision document no release manager signed: the attacker's own image. */
function attackerRevision(name: string): Uint8Array {
  const evil = randomBytes(64);
  const sha256 = createHash('sha256').update(evil).digest('hex');
  const document = {
    kind: 'uproll.state-revision/v1',
    name,
    artifacts: [{ path: 'evil.bin', sha256, length: 64 }],
  };
  return Buffer.from(JSON.stringify(document));
}

/**
 * Publishes Director targets for this device as the holder of the Director's
 * online keys would: targets signed by `targetsSigners`, then a snapshot and
 * timestamp over them with the Director's snapshot and timestamp keys.
 */
async function publishDirectorTargets(
  content: { targets: Record<string, TargetSpec>; delegations?: DelegationSpec[]; deviceId?: string },
  targetsSigners: readonly Signer[] = rig.repos.directorSigners.targets,
) {
  const files = new MetadataFiles(directorMetadata());
  const served = await files.served();
  const version = (served.roles['targets'] ?? 0) + 1;
  const signed = {
    ...targetsSigned({
      version,
      expires: inDays(7),
      targets: {},
      ...(content.delegations ? { delegations: content.delegations } : {}),
      extra: { custom: { deviceId: content.deviceId ?? rig.deviceId } },
    }),
    // Put in as they are: Uproll's writer refuses a path like `../x`, an attacker's tools do not.
    targets: content.targets,
  };
  await files.write(`${version}.targets.json`, await signEnvelope(signed, targetsSigners));
  await files.commit(served, { targets: version }, rig.repos.directorSigners, {
    snapshot: inDays(7),
    timestamp: inDays(1),
  });
}

// --- The device -----------------------------------------------------------------------------------

/** What "installs nothing" leaves unchanged: boot control, every file of the slots, the objects held. */
async function deviceState() {
  const slots = join(rig.dataDir, 'slots');
  const files: Record<string, string> = {};
  for (const entry of await readdir(slots, { recursive: true, withFileTypes: true }).catch(() => [])) {
    const path = join(entry.parentPath, entry.name);
    files[relative(slots, path)] = entry.isFile()
      ? createHash('sha256')
          .update(await readFile(path))
          .digest('hex')
      : 'directory';
  }
  return {
    control: await rig.manager.boot.read(),
    slots: files,
    objects: [...(await rig.manager.objects.present())].sort(),
  };
}
type DeviceState = Awaited<ReturnType<typeof deviceState>>;

/** Installs revision 1.0 from the honest repositories; returns the device state it leaves. */
async function installFirstRevision(): Promise<DeviceState> {
  await rig.release('1.0', randomArtifacts(2, 1024));
  const { telemetry } = await rig.update('1.0');
  expect(telemetry.at(-1)).toMatchObject({ phase: 'committed' });
  return deviceState();
}

/** A device running revision 1.0. */
async function deviceRunningFirstRevision(options: Parameters<typeof startAgentRig>[0] = {}) {
  rig = await startAgentRig(options);
  return installFirstRevision();
}

/**
 * The device detected `code`: one `failed` report with that code, nothing
 * installed (boot control, slots and objects as `before`), and a signed
 * manifest telling the Director the attack while it still runs what it ran.
 */
async function expectDetected(
  before: DeviceState,
  update: Awaited<ReturnType<AgentRig['update']>>,
  code: UprollErrorCode,
) {
  expect(update.telemetry).toMatchObject([{ phase: 'failed', error: { code } }]);
  expect(await deviceState()).toEqual(before);

  const last = (await rig.manager.journal.after(0)).at(-1);
  expect(last?.kind).toBe('manifest');
  const serial = `${rig.deviceId}-primary`;
  const manifest = verifyDeviceManifest(Buffer.from(JSON.stringify(last?.body)), {
    deviceKey: rig.identity.deviceKey.publicKey,
    ecuKeys: { [serial]: rig.identity.deviceKey.publicKey },
  });
  expect(manifest.ecuVersionReports[serial]?.signed).toMatchObject({
    attacksDetected: code,
    installedImage: { filepath: before.control.active?.target.path },
  });
}

// --- The attacks ----------------------------------------------------------------------------------

describe('TUF: metadata the device must not trust', () => {
  it('malformed metadata: the Director serves its snapshot as its timestamp -> BAD_METADATA', async () => {
    const before = await deviceRunningFirstRevision();
    await rig.release('2.0', randomArtifacts(1));
    // Validly signed, but of the wrong `_type`: a role swap must not pass for the timestamp.
    const dir = directorMetadata();
    const { snapshot } = await new MetadataFiles(dir).served();
    await copyFile(join(dir, `${snapshot}.snapshot.json`), join(dir, 'timestamp.json'));
    await expectDetected(before, await rig.update('2.0'), 'BAD_METADATA');
  });

  it('a forged assignment: Director targets signed by an attacker key -> THRESHOLD_NOT_MET', async () => {
    const before = await deviceRunningFirstRevision();
    const { target, revision } = await rig.repos.publish('2.0', randomArtifacts(1));
    const released = await rig.repos.image.releasedTargets();
    // Even with the Director's snapshot and timestamp keys, only the targets keys may say what to install.
    await publishDirectorTargets({ targets: { [target]: forPrimary(released[target]!) } }, [newSigner()]);
    await expectDetected(before, await rig.update(revision.name), 'THRESHOLD_NOT_MET');
  });

  it('a rollback attack: an old, validly signed Director timestamp is replayed -> ROLLBACK_ATTACK', async () => {
    rig = await startAgentRig();
    const recorded = await readFile(join(directorMetadata(), 'timestamp.json')); // v1: nothing assigned yet
    const before = await installFirstRevision();
    await rig.release('2.0', randomArtifacts(1));
    await writeFile(join(directorMetadata(), 'timestamp.json'), recorded);
    await expectDetected(before, await rig.update('2.0'), 'ROLLBACK_ATTACK');
  });

  it('a freeze attack: the Director is served as it was, past its timestamp expiry -> FREEZE_ATTACK', async () => {
    let clock = Date.now();
    const before = await deviceRunningFirstRevision({ clock: () => new Date(clock) });
    const frozen = await readFile(join(directorMetadata(), 'timestamp.json'));
    clock += 2 * DAY; // the Director timestamp lives one day
    await rig.release('2.0', randomArtifacts(1)); // assigned with fresh metadata ...
    await writeFile(join(directorMetadata(), 'timestamp.json'), frozen); // ... that a man in the middle withholds
    await expectDetected(before, await rig.update('2.0'), 'FREEZE_ATTACK');
  });

  it('a mix-and-match attack: an older releases role under the new version name -> MIX_AND_MATCH', async () => {
    const before = await deviceRunningFirstRevision();
    await rig.release('2.0', randomArtifacts(1));
    // Validly signed by the releases key, but not the file the snapshot lists by length and hash.
    const dir = imageMetadata();
    const releases = (await new MetadataFiles(dir).served()).roles['releases'] ?? 0;
    await copyFile(join(dir, `${releases - 1}.releases.json`), join(dir, `${releases}.releases.json`));
    await expectDetected(before, await rig.update('2.0'), 'MIX_AND_MATCH');
  });

  it(`an endless root chain: a stolen Image root key signs root after root -> LIMIT_EXCEEDED`, async () => {
    const before = await deviceRunningFirstRevision();
    await rig.release('2.0', randomArtifacts(1));
    const signers = rig.repos.imageSigners;
    const role = (keys: readonly Signer[]) => ({ keys: keys.map((s) => s.publicKey), threshold: 1 });
    // Each root is valid on its own; only the bound on rotations per refresh ends the walk.
    for (let version = 2; version <= DEFAULT_LIMITS.maxRootRotations + 2; version++) {
      const root = rootSigned({
        version,
        expires: inDays(365),
        consistentSnapshot: true,
        roles: {
          root: role(signers.root),
          targets: role(signers.targets),
          snapshot: role(signers.snapshot),
          timestamp: role(signers.timestamp),
        },
      });
      await writeFile(join(imageMetadata(), `${version}.root.json`), await signEnvelope(root, signers.root));
    }
    await expectDetected(before, await rig.update('2.0'), 'LIMIT_EXCEEDED');
  });
});

describe('Uptane: what a compromised or replayed Director assigns', () => {
  it('(control) an assignment crafted with the Director keys, of a released revision, installs', async () => {
    // The tooling is sound: what the attacks below add is what the device refuses.
    await deviceRunningFirstRevision();
    const { target, revision } = await rig.repos.publish('2.0', randomArtifacts(1));
    const released = await rig.repos.image.releasedTargets();
    await publishDirectorTargets({ targets: { [target]: forPrimary(released[target]!) } });
    const { telemetry } = await rig.update(revision.name);
    expect(telemetry.at(-1)).toMatchObject({ phase: 'committed' });
  });

  it('an unreleased image: the Director assigns a revision the Image repository never released -> TARGET_NOT_FOUND', async () => {
    const before = await deviceRunningFirstRevision();
    const path = revisionTargetPath('evil');
    await publishDirectorTargets({ targets: { [path]: forPrimary(describeFile(attackerRevision('evil'))) } });
    await expectDetected(before, await rig.update('evil'), 'TARGET_NOT_FOUND');
  });

  it('a path traversal: the Director assigns a target path with `..` -> INVALID_TARGET_PATH', async () => {
    const before = await deviceRunningFirstRevision();
    const path = 'revisions/../../../boot/evil.json';
    await publishDirectorTargets({ targets: { [path]: forPrimary(describeFile(attackerRevision('evil'))) } });
    await expectDetected(before, await rig.update('evil'), 'INVALID_TARGET_PATH');
  });

  it('a swapped image: the Director lists other bytes for a released revision -> DIRECTOR_IMAGE_MISMATCH', async () => {
    const before = await deviceRunningFirstRevision();
    const { target } = await rig.repos.publish('2.0', randomArtifacts(1)); // released, not yet assigned
    await publishDirectorTargets({
      targets: { [target]: forPrimary(describeFile(attackerRevision('2.0'))) },
    });
    await expectDetected(before, await rig.update('2.0'), 'DIRECTOR_IMAGE_MISMATCH');
  });

  it('an image for other hardware: the Director assigns a release built for another board -> HARDWARE_MISMATCH', async () => {
    const before = await deviceRunningFirstRevision();
    await rig.release('2.0', randomArtifacts(1), { hardwareIds: ['other-board'] });
    await expectDetected(before, await rig.update('2.0'), 'HARDWARE_MISMATCH');
  });

  it("a replay across devices: another device's Director metadata is served to this one -> ECU_MISMATCH", async () => {
    const before = await deviceRunningFirstRevision();
    const other = `${rig.deviceId}-other`;
    await rig.repos.enroll(other);
    await rig.repos.assign(other, '1.0');
    await rig.repos.assign(other, '1.0'); // newer versions than this device trusts, so it must look inside
    // Signed with the same Director keys as this device's own metadata: only the device id tells them apart.
    await cp(directorMetadata(other), directorMetadata(), { recursive: true, force: true });
    await expectDetected(before, await rig.update('1.0'), 'ECU_MISMATCH');
  });

  it('a delegating Director: its targets delegate to an attacker key -> DELEGATION_NOT_ALLOWED', async () => {
    const before = await deviceRunningFirstRevision();
    const attacker = newSigner();
    await publishDirectorTargets({
      targets: {},
      delegations: [
        { name: 'evil', keys: [attacker.publicKey], threshold: 1, paths: ['*', '*/*'], terminating: true },
      ],
    });
    await expectDetected(before, await rig.update('evil'), 'DELEGATION_NOT_ALLOWED');
  });

  it('a downgrade: the Director assigns a release with a lower release counter -> RELEASE_COUNTER_ROLLBACK', async () => {
    const before = await deviceRunningFirstRevision(); // 1.0 has release counter 1
    await rig.release('0.9', randomArtifacts(1), { releaseCounter: 0 });
    await expectDetected(before, await rig.update('0.9'), 'RELEASE_COUNTER_ROLLBACK');
  });
});

describe('objects: bytes that are not what the verified revision lists', () => {
  it('an endless-data attack: an object served longer than its length -> ENDLESS_DATA', async () => {
    const before = await deviceRunningFirstRevision();
    const { revision } = await rig.release('2.0', randomArtifacts(1, 4096));
    await appendFile(servedObject(revision.artifacts[0]!.sha256), randomBytes(1024 * 1024));
    await expectDetected(before, await rig.update('2.0'), 'ENDLESS_DATA');
  });

  it('a truncated object: served shorter than its length -> LENGTH_MISMATCH', async () => {
    const before = await deviceRunningFirstRevision();
    const { revision } = await rig.release('2.0', randomArtifacts(1, 4096));
    await truncate(servedObject(revision.artifacts[0]!.sha256), 2048);
    await expectDetected(before, await rig.update('2.0'), 'LENGTH_MISMATCH');
  });

  it('a tampered object: same length, other bytes -> HASH_MISMATCH', async () => {
    const before = await deviceRunningFirstRevision();
    const { revision } = await rig.release('2.0', randomArtifacts(1, 4096));
    await writeFile(servedObject(revision.artifacts[0]!.sha256), randomBytes(4096));
    await expectDetected(before, await rig.update('2.0'), 'HASH_MISMATCH');
  });

  it('a slow-retrieval attack: an object trickles in below the floor -> SLOW_RETRIEVAL', async () => {
    // 50 kB/s over 300 ms windows; one attempt, so the first slow window ends it.
    const before = await deviceRunningFirstRevision({
      download: { attempts: 1, minBytesPerSecond: 50_000, windowMs: 300 },
    });
    await rig.release('2.0', randomArtifacts(1, 32 * 1024));
    rig.proxy.faults.bytesPerSecond = 2048;
    const update = await rig.update('2.0');
    delete rig.proxy.faults.bytesPerSecond; // lets the proxy finish the abandoned response at once
    await expectDetected(before, update, 'SLOW_RETRIEVAL');
  });
});
