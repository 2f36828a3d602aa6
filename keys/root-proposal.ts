import { z } from 'zod';
import { parseJson, UprollError } from '../core/index.ts';
import {
  canonicalBytes,
  keyIdOf,
  signEnvelope,
  tufDate,
  verifyTufSignature,
  type Signer,
  type TufPublicKey,
} from '../core/tuf/index.ts';
import { resolveKeyId } from './key-id-prefix.ts';

type Json = Record<string, unknown>;
const MAX_ROOT_BYTES = 512 * 1024;

const roleSchema = z.object({ keyids: z.array(z.string()), threshold: z.int().min(1) }).loose();
const rootEnvelopeSchema = z.object({
  signatures: z.array(z.object({ keyid: z.string(), sig: z.string() })),
  signed: z
    .object({
      _type: z.literal('root'),
      version: z.int().min(1),
      expires: z.string(),
      keys: z.record(
        z.string(),
        z.object({ keytype: z.string(), scheme: z.string(), keyval: z.object({ public: z.string() }) }),
      ),
      roles: z.record(z.string(), roleSchema),
    })
    .loose(),
});
type RootEnvelope = z.infer<typeof rootEnvelopeSchema>;

/** What a root change does: keys in or out of roles, thresholds, a new expiry. */
export interface RootChanges {
  /** Replace every key of a role with these (a rotation). */
  replace?: Partial<Record<string, readonly TufPublicKey[]>>;
  /** Add keys to a role. */
  add?: Partial<Record<string, readonly TufPublicKey[]>>;
  /** Remove a key from every role: its id or a unique prefix of it; a key root N does not name is refused. */
  remove?: readonly string[];
  threshold?: Partial<Record<string, number>>;
  expires: Date;
}

export function parseRootEnvelope(bytes: Uint8Array, what = 'root proposal'): RootEnvelope {
  return parseJson(rootEnvelopeSchema, bytes, { maxBytes: MAX_ROOT_BYTES, what });
}

/**
 * Root N+1 proposed from root N with `changes`, unsigned. Holders of root
 * keys sign it one by one (`signRootProposal`), possibly on other machines.
 */
export async function proposeRoot(currentRoot: Uint8Array, changes: RootChanges): Promise<Uint8Array> {
  const current = parseRootEnvelope(currentRoot, 'current root').signed;
  const keys: Record<string, TufPublicKey> = { ...current.keys };
  const roles: Record<string, { keyids: string[]; threshold: number }> = Object.fromEntries(
    Object.entries(current.roles).map(([name, role]) => [
      name,
      { keyids: [...role.keyids], threshold: role.threshold },
    ]),
  );
  // A removal that removes nothing would be a silent no-op in a security ceremony: refused instead.
  const named = Object.values(roles).flatMap((role) => role.keyids);
  for (const name of changes.remove ?? []) {
    const keyId = resolveKeyId(name, named, `root v${current.version}`);
    for (const role of Object.values(roles)) role.keyids = role.keyids.filter((id) => id !== keyId);
  }
  for (const [name, replacement] of Object.entries(changes.replace ?? {})) {
    const role = roles[name];
    if (!role || !replacement) throw new UprollError('INVALID_INPUT', `root has no role ${name}`);
    role.keyids = [];
    for (const key of replacement) role.keyids.push(addKey(keys, key));
  }
  for (const [name, added] of Object.entries(changes.add ?? {})) {
    const role = roles[name];
    if (!role || !added) throw new UprollError('INVALID_INPUT', `root has no role ${name}`);
    for (const key of added) if (!role.keyids.includes(keyIdOf(key))) role.keyids.push(addKey(keys, key));
  }
  for (const [name, threshold] of Object.entries(changes.threshold ?? {})) {
    const role = roles[name];
    if (!role || threshold === undefined) throw new UprollError('INVALID_INPUT', `root has no role ${name}`);
    role.threshold = threshold;
  }
  for (const [name, role] of Object.entries(roles)) {
    if (role.threshold > role.keyids.length) {
      throw new UprollError(
        'INVALID_INPUT',
        `${name} would need ${role.threshold} signatures from ${role.keyids.length} keys`,
      );
    }
  }
  // Keys no role uses any more leave the root.
  const used = new Set(Object.values(roles).flatMap((role) => role.keyids));
  const signed: Json = {
    ...current,
    version: current.version + 1,
    expires: tufDate(changes.expires),
    keys: Object.fromEntries(Object.entries(keys).filter(([id]) => used.has(id))),
    roles,
  };
  return signEnvelope(signed, []);
}

/** Adds one holder's signature to a root proposal (a file passed from holder to holder). */
export async function signRootProposal(proposal: Uint8Array, signer: Signer): Promise<Uint8Array> {
  const envelope = parseRootEnvelope(proposal);
  const sig = Buffer.from(await signer.sign(canonicalBytes(envelope.signed))).toString('hex');
  const signatures = [
    ...envelope.signatures.filter((s) => s.keyid !== signer.keyId),
    { keyid: signer.keyId, sig },
  ];
  return new TextEncoder().encode(JSON.stringify({ signatures, signed: envelope.signed }));
}

export interface CeremonyStatus {
  version: number;
  /** Valid signatures by keys of the current root's root role, and how many it needs. */
  byCurrentRoot: { have: number; need: number };
  /** Valid signatures by keys of the proposed root's own root role, and how many it needs. */
  byProposedRoot: { have: number; need: number };
  complete: boolean;
}

/** TUF 5.3.4: root N+1 needs a threshold of root N's keys and of its own. */
export function ceremonyStatus(currentRoot: Uint8Array, proposal: Uint8Array): CeremonyStatus {
  const current = parseRootEnvelope(currentRoot, 'current root').signed;
  const envelope = parseRootEnvelope(proposal);
  if (envelope.signed.version !== current.version + 1) {
    throw new UprollError(
      'INVALID_INPUT',
      `the proposal is root v${envelope.signed.version}, not v${current.version + 1}`,
    );
  }
  const data = canonicalBytes(envelope.signed);
  const count = (root: RootEnvelope['signed']) => {
    const role = root.roles['root'];
    const valid = new Set<string>();
    for (const keyId of new Set(role?.keyids ?? [])) {
      const key = root.keys[keyId];
      const signature = envelope.signatures.find((s) => s.keyid === keyId);
      if (key && signature && verifyTufSignature(key, data, signature.sig)) valid.add(key.keyval.public);
    }
    return { have: valid.size, need: role?.threshold ?? 1 };
  };
  const byCurrentRoot = count(current);
  const byProposedRoot = count(envelope.signed);
  return {
    version: envelope.signed.version,
    byCurrentRoot,
    byProposedRoot,
    complete: byCurrentRoot.have >= byCurrentRoot.need && byProposedRoot.have >= byProposedRoot.need,
  };
}

/** Whether any role of `root` names the key. */
export function rootNames(root: Uint8Array, keyId: string): boolean {
  return Object.values(parseRootEnvelope(root, 'current root').signed.roles).some((role) =>
    role.keyids.includes(keyId),
  );
}

/**
 * Refuses to publish a root whose roles the metadata signed with it would
 * not satisfy: for each role, the key ids that sign it (signers at hand, or
 * the signatures of metadata kept as it is) must include the threshold of
 * keys the root names for that role. Otherwise devices would accept the root
 * and then reject everything after it.
 */
export function assertRolesSignable(
  root: Uint8Array,
  signingKeyIds: Record<string, readonly string[]>,
): void {
  const { roles, version } = parseRootEnvelope(root).signed;
  for (const [name, keyIds] of Object.entries(signingKeyIds)) {
    const role = roles[name];
    const have = new Set(keyIds.filter((id) => role?.keyids.includes(id))).size;
    if (!role || have < role.threshold) {
      throw new UprollError(
        'SIGNERS_MISSING',
        `root v${version} needs ${role?.threshold ?? 1} ${name} signatures by the keys it names; the keys at hand give ${have}`,
      );
    }
  }
}

function addKey(keys: Record<string, TufPublicKey>, key: TufPublicKey): string {
  const keyId = keyIdOf(key);
  keys[keyId] = key;
  return keyId;
}
