import { createHash } from 'node:crypto';
import { access, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import {
  assertToken,
  DEFAULT_FRESHNESS_MARGINS,
  parseJson,
  planRefresh,
  UprollError,
} from '../../core/index.ts';
import {
  repositoryFileName,
  signEnvelope,
  targetsSigned,
  type Signer,
  type TargetSpec,
  type TufPublicKey,
} from '../../core/tuf/index.ts';
import { verifyDeviceManifest, type DeviceManifest } from '../../core/uptane/index.ts';
import { assertRolesSignable, ceremonyStatus } from '../../keys/index.ts';
import { writeFileAtomic } from '../../adapters/fs/index.ts';
import { DIRECTOR_EXPIRY_DAYS, expiresAt, MetadataFiles, signFirstRoot } from '../repo/index.ts';

const publicKeySchema = z.object({
  keytype: z.string(),
  scheme: z.string(),
  keyval: z.object({ public: z.string() }),
});
export const inventorySchema = z.object({
  deviceId: z.string(),
  ecus: z.array(z.object({ serial: z.string(), hardwareId: z.string() })).min(1),
  publicKey: publicKeySchema,
  lastCounter: z.int().optional(),
  lastReportAt: z.string().optional(),
  /** Of the last accepted manifest: the same bytes delivered again are accepted again, not a replay. */
  lastManifestSha256: z.string().optional(),
  installed: z
    .record(
      z.string(),
      z.object({ filepath: z.string(), length: z.int(), hashes: z.record(z.string(), z.string()) }),
    )
    .default({}),
  attacksDetected: z.record(z.string(), z.string()).default({}),
  trustedRoots: z.object({ image: z.int(), director: z.int() }).optional(),
});
/** What the Director knows of a device: its ECUs, its key, what its last signed report said. */
export type InventoryRecord = z.infer<typeof inventorySchema>;

/** An image the Director assigns to one ECU, as the Image repository lists it. */
export interface Assignment {
  ecuSerial: string;
  path: string;
  length: number;
  hashes: Record<string, string>;
  releaseCounter: number;
}

const assignmentNoteSchema = z.object({ rolloutId: z.string(), paths: z.array(z.string()) });
/** Which rollout (device update) the Director's latest targets for a device belong to. */
export type AssignmentNote = z.infer<typeof assignmentNoteSchema>;

type OnlineSigners = {
  targets: readonly Signer[];
  snapshot: readonly Signer[];
  timestamp: readonly Signer[];
};

/**
 * The Director repository: one root for the fleet and, per device,
 * targets metadata naming that device and what each of its ECUs must
 * install, signed with the Director's online keys; plus the device
 * inventory, updated from the devices' signed reports.
 */
export class DirectorRepository {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  #device(deviceId: string): MetadataFiles {
    return new MetadataFiles(join(this.dir, 'devices', assertToken(deviceId, 'device id'), 'metadata'));
  }
  #inventoryPath(deviceId: string): string {
    return join(this.dir, 'inventory', `${assertToken(deviceId, 'device id')}.json`);
  }
  #assignmentPath(deviceId: string): string {
    return join(this.dir, 'assignments', `${assertToken(deviceId, 'device id')}.json`);
  }
  get #roots(): MetadataFiles {
    return new MetadataFiles(join(this.dir, 'root'));
  }

  async initialize(
    keys: {
      root: readonly TufPublicKey[];
      rootThreshold: number;
      targets: readonly TufPublicKey[];
      snapshot: readonly TufPublicKey[];
      timestamp: readonly TufPublicKey[];
    },
    rootSigners: readonly Signer[],
    now: Date,
  ): Promise<void> {
    if ((await this.#roots.rootVersions()).length > 0)
      throw new UprollError('INVALID_INPUT', `${this.dir} already holds a Director`);
    const root = await signFirstRoot(keys, rootSigners, expiresAt(DIRECTOR_EXPIRY_DAYS, 'root', now));
    await this.#roots.write('1.root.json', root);
  }

  /** Director root `version`, as published. */
  async root(version: number): Promise<Uint8Array> {
    return this.#roots.read(`${version}.root.json`);
  }

  /** The Director's current root, the trust anchor a provisioned device starts from. */
  async currentRoot(): Promise<Uint8Array> {
    return this.#roots.read(`${Math.max(...(await this.#roots.rootVersions()))}.root.json`);
  }

  /**
   * Publishes Director root N+1 once it carries a threshold of root N's keys
   * and of its own (CEREMONY_INCOMPLETE otherwise), then re-signs every
   * device's metadata with `signers` (the keys root N+1 names): each device
   * finds the new root in its folder and follows it through the verified
   * root chain. Returns the new root version.
   */
  async publishRoot(proposal: Uint8Array, signers: OnlineSigners, now: Date): Promise<number> {
    const status = ceremonyStatus(await this.currentRoot(), proposal);
    if (!status.complete) {
      throw new UprollError(
        'CEREMONY_INCOMPLETE',
        `Director root v${status.version} has ${status.byCurrentRoot.have} of ${status.byCurrentRoot.need} signatures of the current root keys and ${status.byProposedRoot.have} of ${status.byProposedRoot.need} of its own`,
      );
    }
    const keyIds = (list: readonly Signer[]) => list.map((signer) => signer.keyId);
    assertRolesSignable(proposal, {
      targets: keyIds(signers.targets),
      snapshot: keyIds(signers.snapshot),
      timestamp: keyIds(signers.timestamp),
    });
    await this.#roots.write(`${status.version}.root.json`, proposal);
    for (const { deviceId } of await this.devices()) await this.#resign(deviceId, signers, now);
    return status.version;
  }

  /** The device's current targets again, as a new version, with new snapshot and timestamp. */
  async #resign(deviceId: string, signers: OnlineSigners, now: Date): Promise<void> {
    const files = this.#device(deviceId);
    const served = await files.served();
    const targetsVersion = served.roles['targets'] ?? 0;
    const targets = await files.readSigned(`${targetsVersion}.targets.json`);
    await this.#publishTargets(deviceId, targets['targets'] as Record<string, TargetSpec>, signers, now, {
      ...served,
      targets: targetsVersion,
    });
  }

  /**
   * Adds a device to the inventory and publishes its first, empty, targets.
   * A device registered again (re-provisioned with a new key) keeps counting
   * up from the versions it was last published: it trusts those, and would
   * take anything lower as a rollback attack.
   */
  async register(
    device: Pick<InventoryRecord, 'deviceId' | 'ecus' | 'publicKey'>,
    signers: OnlineSigners,
    now: Date,
  ): Promise<InventoryRecord> {
    const record = inventorySchema.parse({ ...device, installed: {}, attacksDetected: {} });
    await mkdir(join(this.dir, 'inventory'), { recursive: true });
    await writeFileAtomic(this.#inventoryPath(device.deviceId), `${JSON.stringify(record, null, 2)}\n`);
    // A new identity: a revocation of the old one no longer keeps the device out of rollouts.
    await rm(this.#revokedPath(device.deviceId), { force: true });
    const files = this.#device(device.deviceId);
    const served = (await files.has('timestamp.json')) ? await files.served() : undefined;
    await this.#publishTargets(device.deviceId, {}, signers, now, {
      snapshot: served?.snapshot ?? 0,
      timestamp: served?.timestamp ?? 0,
      targets: served?.roles['targets'] ?? 0,
    });
    return record;
  }

  /** Whether the device is registered with this Director. */
  async knows(deviceId: string): Promise<boolean> {
    return access(this.#inventoryPath(deviceId)).then(
      () => true,
      () => false,
    );
  }

  /**
   * The ids of `deviceIds` not registered with this Director, in their order:
   * one read of the inventory directory, however long the list (a 100,000
   * device target read each record in turn, past its activity's time limit).
   */
  async unknownAmong(deviceIds: readonly string[]): Promise<string[]> {
    const names = new Set(await readdir(join(this.dir, 'inventory')).catch(() => [] as string[]));
    return deviceIds.filter((deviceId) => !names.has(`${assertToken(deviceId, 'device id')}.json`));
  }

  /**
   * Marks a device whose credentials were revoked (`devices revoke`): rollouts
   * leave it out until it is registered again with a new identity.
   */
  async markRevoked(deviceId: string, at: Date): Promise<void> {
    await mkdir(join(this.dir, 'revoked'), { recursive: true });
    await writeFileAtomic(this.#revokedPath(deviceId), `${JSON.stringify({ at: at.toISOString() })}\n`);
  }

  /** The ids of `deviceIds` marked revoked, in their order: one directory read, as {@link unknownAmong}. */
  async revokedAmong(deviceIds: readonly string[]): Promise<string[]> {
    const names = new Set(await readdir(join(this.dir, 'revoked')).catch(() => [] as string[]));
    return deviceIds.filter((deviceId) => names.has(`${assertToken(deviceId, 'device id')}.json`));
  }

  #revokedPath(deviceId: string): string {
    return join(this.dir, 'revoked', `${assertToken(deviceId, 'device id')}.json`);
  }

  async inventory(deviceId: string): Promise<InventoryRecord> {
    const bytes = await readFile(this.#inventoryPath(deviceId)).catch(() => undefined);
    if (!bytes)
      throw new UprollError('INVALID_INPUT', `device ${deviceId} is not registered with the Director`);
    return parseJson(inventorySchema, bytes, { maxBytes: 1024 * 1024, what: `inventory of ${deviceId}` });
  }

  async devices(): Promise<InventoryRecord[]> {
    const names = await readdir(join(this.dir, 'inventory')).catch(() => [] as string[]);
    return Promise.all(names.filter((n) => n.endsWith('.json')).map((n) => this.inventory(n.slice(0, -5))));
  }

  /** Publishes new targets for the device: what each named ECU must install now. */
  async assign(
    deviceId: string,
    assignments: readonly Assignment[],
    signers: OnlineSigners,
    now: Date,
    rolloutId?: string,
  ): Promise<number> {
    const record = await this.inventory(deviceId);
    const targets: Record<string, TargetSpec> = {};
    for (const assignment of assignments) {
      const ecu = record.ecus.find((e) => e.serial === assignment.ecuSerial);
      if (!ecu)
        throw new UprollError('ECU_MISMATCH', `device ${deviceId} has no ECU ${assignment.ecuSerial}`);
      targets[assignment.path] = {
        length: assignment.length,
        hashes: assignment.hashes,
        custom: {
          ecuIdentifiers: { [ecu.serial]: { hardwareId: ecu.hardwareId } },
          releaseCounter: assignment.releaseCounter,
        },
      };
    }
    // Noted before the targets are published, so a report of them always finds its rollout.
    await mkdir(join(this.dir, 'assignments'), { recursive: true });
    const note: AssignmentNote = { rolloutId: rolloutId ?? '', paths: Object.keys(targets) };
    await writeFileAtomic(this.#assignmentPath(deviceId), `${JSON.stringify(note)}\n`);
    const files = this.#device(deviceId);
    const served = await files.served();
    return this.#publishTargets(deviceId, targets, signers, now, {
      ...served,
      targets: served.roles['targets'] ?? 0,
    });
  }

  /** The rollout the device's current targets were assigned for, if any. */
  async assignment(deviceId: string): Promise<AssignmentNote | undefined> {
    const bytes = await readFile(this.#assignmentPath(deviceId)).catch(() => undefined);
    if (!bytes) return undefined;
    const note = parseJson(assignmentNoteSchema, bytes, {
      maxBytes: 64 * 1024,
      what: `assignment of ${deviceId}`,
    });
    return note.rolloutId ? note : undefined;
  }

  /**
   * Re-signs what nears its expiry in one device's metadata: its targets
   * (the Director's keys are online, so they are re-signed like the rest),
   * snapshot and timestamp. Returns what it re-signed.
   */
  async keepFresh(
    deviceId: string,
    signers: OnlineSigners,
    now: Date,
  ): Promise<{ timestamp: boolean; snapshot: boolean }> {
    const files = this.#device(deviceId);
    const served = await files.served();
    const targetsVersion = served.roles['targets'] ?? 0;
    const targets = await files.readSigned(`${targetsVersion}.targets.json`);
    const targetsLeft = new Date(targets['expires'] as string).getTime() - now.getTime();
    if (targetsLeft < DEFAULT_FRESHNESS_MARGINS.snapshotMs) {
      await this.#resign(deviceId, signers, now);
      return { timestamp: true, snapshot: true };
    }
    const plan = planRefresh(await files.expiries(), now);
    if (!plan.timestamp) return plan;
    const expires = (role: 'snapshot' | 'timestamp') => expiresAt(DIRECTOR_EXPIRY_DAYS, role, now);
    if (plan.snapshot) {
      await files.commit(served, served.roles, signers, {
        snapshot: expires('snapshot'),
        timestamp: expires('timestamp'),
      });
    } else {
      await files.stamp(
        served,
        await files.read(`${served.snapshot}.snapshot.json`),
        signers.timestamp,
        expires('timestamp'),
      );
    }
    return plan;
  }

  /**
   * Verifies a device's signed manifest against its inventory (registered
   * key, counter above the last one) and records what it reports. The very
   * bytes last accepted are accepted again, changing nothing.
   */
  async receiveManifest(deviceId: string, bytes: Uint8Array, now: Date): Promise<DeviceManifest> {
    const record = await this.inventory(deviceId);
    const primary = record.ecus[0]?.serial ?? '';
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    // The very bytes last accepted, again (a JetStream redelivery, or the device sending again after
    // a lost ack: device reports carry no message id): accepted again, changing nothing. Only the
    // device publishes on its subject, so this says nothing new. Anything else at or below the last
    // counter is a replay.
    const redelivered = sha256 === record.lastManifestSha256 && record.lastCounter !== undefined;
    const lastCounter = redelivered ? record.lastCounter! - 1 : record.lastCounter;
    const manifest = verifyDeviceManifest(bytes, {
      deviceKey: record.publicKey,
      ecuKeys: { [primary]: record.publicKey },
      ...(lastCounter === undefined ? {} : { lastCounter }),
    });
    if (redelivered) return manifest;
    if (manifest.deviceId !== deviceId)
      throw new UprollError('ECU_MISMATCH', `a manifest for ${manifest.deviceId} arrived as ${deviceId}`);
    const updated: InventoryRecord = {
      ...record,
      lastCounter: manifest.counter,
      lastReportAt: now.toISOString(),
      lastManifestSha256: sha256,
      installed: Object.fromEntries(
        Object.entries(manifest.ecuVersionReports).map(([serial, r]) => [
          serial,
          { filepath: r.signed.installedImage.filepath, ...r.signed.installedImage.fileinfo },
        ]),
      ),
      ...(manifest.trustedRoots ? { trustedRoots: manifest.trustedRoots } : {}),
      attacksDetected: Object.fromEntries(
        Object.entries(manifest.ecuVersionReports).map(([serial, r]) => [serial, r.signed.attacksDetected]),
      ),
    };
    await writeFileAtomic(this.#inventoryPath(deviceId), `${JSON.stringify(updated, null, 2)}\n`);
    return manifest;
  }

  async #publishTargets(
    deviceId: string,
    targets: Record<string, TargetSpec>,
    signers: OnlineSigners,
    now: Date,
    current: { snapshot: number; timestamp: number; targets: number },
  ): Promise<number> {
    const files = this.#device(deviceId);
    // The device reads the Director's root chain from its own folder.
    for (const version of await this.#roots.rootVersions()) {
      await files.write(`${version}.root.json`, await this.#roots.read(`${version}.root.json`));
    }
    const version = current.targets + 1;
    const bytes = await signEnvelope(
      targetsSigned({
        version,
        expires: expiresAt(DIRECTOR_EXPIRY_DAYS, 'targets', now),
        targets,
        extra: { custom: { deviceId } },
      }),
      signers.targets,
    );
    await files.write(repositoryFileName('targets', version), bytes);
    await files.commit(current, { targets: version }, signers, {
      snapshot: expiresAt(DIRECTOR_EXPIRY_DAYS, 'snapshot', now),
      timestamp: expiresAt(DIRECTOR_EXPIRY_DAYS, 'timestamp', now),
    });
    return version;
  }
}
