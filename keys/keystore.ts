import { createHash, createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, type JWK } from 'jose';
import { z } from 'zod';
import { parseJson, UprollError, type Clock } from '../core/index.ts';
import {
  inMemorySigner,
  keyIdOf,
  publicKeyObject,
  tufPublicKey,
  type KeyType,
  type Signer,
} from '../core/tuf/index.ts';
import { writeFileAtomic } from '../adapters/fs/index.ts';
import { resolveKeyId } from './key-id-prefix.ts';

/** What the key store knows of a key, beside its encrypted private half. */
export const keyRecordSchema = z.object({
  keyId: z.string().regex(/^[0-9a-f]{64}$/),
  repository: z.enum(['image', 'director', 'fleet']),
  role: z.string().min(1).max(64),
  type: z.enum(['ed25519', 'ecdsa', 'rsa']),
  publicKey: z.object({ keytype: z.string(), scheme: z.string(), keyval: z.object({ public: z.string() }) }),
  created: z.iso.datetime(),
  expires: z.iso.datetime().optional(),
  online: z.boolean(),
  revoked: z.object({ at: z.iso.datetime(), reason: z.string().max(1024) }).optional(),
});
export type KeyRecord = z.infer<typeof keyRecordSchema>;

export interface GenerateKeyOptions {
  repository: KeyRecord['repository'];
  role: string;
  type?: KeyType;
  /** Online keys are used by services (timestamp, snapshot, Director); offline keys by people. */
  online: boolean;
  passphrase: string;
  now: Date;
  expires?: Date;
}

const MIN_PASSPHRASE = 8;

/**
 * Keys for security teams: private keys encrypted at rest (PKCS#8, AES-256,
 * with a passphrase), offline keys in a directory apart from online ones, a
 * record per key (role, type, created, expires, online, revoked). A service
 * opens the store `onlineOnly` and can then never load an offline key.
 */
export interface KeyStoreOptions {
  /** When each signature is recorded in the audit trail. */
  clock: Clock;
  /** A service's view: it can never load an offline key. */
  onlineOnly?: boolean;
}

export class KeyStore {
  readonly dir: string;
  readonly onlineOnly: boolean;
  readonly #clock: Clock;

  constructor(dir: string, options: KeyStoreOptions) {
    this.dir = dir;
    this.onlineOnly = options.onlineOnly ?? false;
    this.#clock = options.clock;
  }

  #folder(online: boolean): string {
    return join(this.dir, online ? 'online' : 'offline');
  }

  async generate(options: GenerateKeyOptions): Promise<KeyRecord> {
    if (options.passphrase.length < MIN_PASSPHRASE) {
      throw new UprollError('INVALID_INPUT', `a key passphrase needs at least ${MIN_PASSPHRASE} characters`);
    }
    const type = options.type ?? 'ed25519';
    const { privateKey } = generatePair(type);
    const publicKey = tufPublicKey(privateKey);
    const record: KeyRecord = {
      keyId: keyIdOf(publicKey),
      repository: options.repository,
      role: options.role,
      type,
      publicKey,
      created: options.now.toISOString(),
      ...(options.expires ? { expires: options.expires.toISOString() } : {}),
      online: options.online,
    };
    const folder = this.#folder(options.online);
    await mkdir(folder, { recursive: true, mode: 0o700 });
    const pem = privateKey.export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: options.passphrase,
    });
    await writeFileAtomic(join(folder, `${record.keyId}.key`), pem, { mode: 0o600 });
    await writeFileAtomic(join(folder, `${record.keyId}.json`), `${JSON.stringify(record, null, 2)}\n`);
    return record;
  }

  /** Every key this store can see (an online-only store sees online keys only). */
  async list(): Promise<KeyRecord[]> {
    const records: KeyRecord[] = [];
    for (const online of this.onlineOnly ? [true] : [true, false]) {
      const folder = this.#folder(online);
      const names = await readdir(folder).catch(() => [] as string[]);
      for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
        records.push(
          parseJson(keyRecordSchema, await readFile(join(folder, name)), { maxBytes: 64 * 1024, what: name }),
        );
      }
    }
    return records;
  }

  /**
   * The record of the key `name` names: its id or a unique prefix of at least
   * 8 hex digits (what `keys list` prints). Every method that takes a key id
   * takes such a name.
   */
  async get(name: string): Promise<KeyRecord> {
    const records = await this.list();
    if (this.onlineOnly) {
      // An online service that names an offline key is told so, not that the key does not exist.
      const all = await new KeyStore(this.dir, { clock: this.#clock }).list();
      const keyId = resolveKeyId(
        name,
        all.map((r) => r.keyId),
        this.dir,
      );
      const record = records.find((r) => r.keyId === keyId);
      if (!record)
        throw new UprollError(
          'OFFLINE_KEY',
          `key ${keyId} is an offline key; an online service cannot use it`,
        );
      return record;
    }
    const keyId = resolveKeyId(
      name,
      records.map((r) => r.keyId),
      this.dir,
    );
    return records.find((r) => r.keyId === keyId)!;
  }

  /** A signer over the decrypted key; never for a revoked key. */
  async signer(name: string, passphrase: string): Promise<Signer> {
    const record = await this.get(name);
    const keyId = record.keyId;
    const signer = inMemorySigner(await this.privateKey(keyId, passphrase));
    const audit = this.#auditPath;
    const clock = this.#clock;
    return {
      keyId: signer.keyId,
      publicKey: signer.publicKey,
      // Every signature is recorded: who signed what (by digest), when.
      async sign(data) {
        const signature = await signer.sign(data);
        const entry = {
          at: clock().toISOString(),
          keyId,
          repository: record.repository,
          role: record.role,
          sha256: createHash('sha256').update(data).digest('hex'),
        };
        await appendFile(audit, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
        return signature;
      },
    };
  }

  get #auditPath(): string {
    return join(this.dir, 'audit.jsonl');
  }

  /** The audit trail: one entry per signature made with a key of this store. */
  async auditTrail(): Promise<
    { at: string; keyId: string; repository: string; role: string; sha256: string }[]
  > {
    const text = await readFile(this.#auditPath, 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter(Boolean)
      .map(
        (line) =>
          JSON.parse(line) as { at: string; keyId: string; repository: string; role: string; sha256: string },
      );
  }

  /** The decrypted private key itself, for signers other than TUF's (the fleet CA). Never for a revoked key. */
  async privateKey(name: string, passphrase: string): Promise<KeyObject> {
    const record = await this.get(name);
    const keyId = record.keyId;
    if (record.revoked) {
      throw new UprollError(
        'KEY_REVOKED',
        `key ${keyId} was revoked at ${record.revoked.at}: ${record.revoked.reason}`,
      );
    }
    const pem = await readFile(join(this.#folder(record.online), `${keyId}.key`), 'utf8');
    try {
      return createPrivateKey({ key: pem, format: 'pem', passphrase });
    } catch (cause) {
      // The OpenSSL message says nothing about the key; keep it as the cause only.
      throw new UprollError('WRONG_PASSPHRASE', `the passphrase does not open key ${keyId}`, { cause });
    }
  }

  /** Marks a key revoked; it can no longer sign, and ceremonies drop it from roles. */
  async revoke(name: string, reason: string, now: Date): Promise<KeyRecord> {
    const record = await this.get(name);
    const revoked: KeyRecord = { ...record, revoked: { at: now.toISOString(), reason } };
    await writeFileAtomic(
      join(this.#folder(record.online), `${record.keyId}.json`),
      `${JSON.stringify(revoked, null, 2)}\n`,
    );
    return revoked;
  }

  /**
   * Deletes a key that never served: one generated by an operation that
   * then failed before any repository named it. Keys that served are revoked, never deleted.
   */
  async discard(name: string): Promise<void> {
    const record = await this.get(name);
    const folder = this.#folder(record.online);
    // The record first: a half-discarded key is no longer listed, so no role picks it up.
    await rm(join(folder, `${record.keyId}.json`), { force: true });
    await rm(join(folder, `${record.keyId}.key`), { force: true });
  }

  /** The public key as a JWK, e.g. for systems that speak JOSE. */
  async exportJwk(name: string): Promise<JWK> {
    const record = await this.get(name);
    return { ...(await exportJWK(publicKeyObject(record.publicKey))), kid: record.keyId };
  }
}

function generatePair(type: KeyType): { privateKey: KeyObject } {
  switch (type) {
    case 'ed25519':
      return generateKeyPairSync('ed25519');
    case 'ecdsa':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'rsa':
      return generateKeyPairSync('rsa', { modulusLength: 3072 });
  }
}
