import { canonicalize } from '@tufjs/canonical-json';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { isUprollError } from '../../core/index.ts';
import { TrustedRepository } from '../../core/tuf/index.ts';
import { MockRepository, NOW, targetOf } from '../helpers/mock-repository.ts';
import { trustedState } from '../helpers/tuf-client.ts';

type Step = 'root' | 'timestamp' | 'snapshot' | 'targets';

/**
 * A repository at root v2, so that each step has a file the client accepts:
 * root v2 for a client at v1, and the current timestamp, snapshot and targets.
 */
interface Fixture {
  repo: MockRepository;
  /** Root v1, the client's trust anchor. */
  anchor: Uint8Array;
  /** What each step is fed before mutation. */
  valid: Record<Step, Uint8Array>;
}

async function fixture(pinHashes: boolean): Promise<Fixture> {
  const repo = new MockRepository();
  repo.hashesInSnapshot = pinHashes;
  repo.hashesInTimestamp = pinHashes;
  repo.targets['a.img'] = targetOf(new TextEncoder().encode('a'));
  const anchor = await repo.publishRoot();
  repo.versions.root = 2;
  const root = await repo.publishRoot();
  await repo.publish();
  const served = (role: Step) => repo.served(role);
  return {
    repo,
    anchor,
    valid: { root, timestamp: served('timestamp'), snapshot: served('snapshot'), targets: served('targets') },
  };
}

/** A client that has trusted everything up to (not including) `step`. */
function clientAt({ anchor, valid }: Fixture, step: Step): TrustedRepository {
  const client = new TrustedRepository(anchor);
  if (step === 'root') return client;
  client.updateRoot(valid.root);
  client.finishRootUpdates(NOW);
  if (step === 'timestamp') return client;
  client.updateTimestamp(valid.timestamp, NOW);
  if (step === 'snapshot') return client;
  client.updateSnapshot(valid.snapshot, NOW);
  return client;
}

function apply(client: TrustedRepository, step: Step, bytes: Uint8Array): void {
  if (step === 'root') client.updateRoot(bytes);
  else if (step === 'timestamp') client.updateTimestamp(bytes, NOW);
  else if (step === 'snapshot') client.updateSnapshot(bytes, NOW);
  else client.updateTargets(bytes, NOW);
}

/**
 * Feeds `bytes` to `step` and says whether the client took them. A refusal
 * must be a coded error that changes nothing the client trusts.
 */
function feed(f: Fixture, step: Step, bytes: Uint8Array): 'accepted' | 'rejected' {
  const client = clientAt(f, step);
  const before = trustedState(client);
  try {
    apply(client, step, bytes);
    return 'accepted';
  } catch (err) {
    if (!isUprollError(err)) throw new Error(`uncoded error: ${String(err)}`, { cause: err });
    expect(trustedState(client)).toEqual(before);
    return 'rejected';
  }
}

const steps: Step[] = ['root', 'timestamp', 'snapshot', 'targets'];
const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value) ?? 'null');
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/** Canonical JSON of `value`; undefined for what has none (floats: never in signed metadata). */
function canonical(value: unknown): string | undefined {
  try {
    return canonicalize(value ?? null);
  } catch {
    return undefined;
  }
}

/** The canonical form of a metadata file's signed part, or undefined when it has none. */
function signedPart(bytes: Uint8Array): string | undefined {
  try {
    return canonical((JSON.parse(new TextDecoder().decode(bytes)) as { signed?: unknown }).signed);
  } catch {
    return undefined;
  }
}

describe.each([
  ['hashes pinned by the role above', true],
  ['versions only, so signatures alone guard each file', false],
])('the trust core under random and mutated metadata (%s)', (_, pinHashes) => {
  let f: Fixture;
  beforeAll(async () => {
    f = await fixture(pinHashes);
  });

  it.each(steps)('%s: the unmutated file is accepted', (step) => {
    expect(feed(f, step, f.valid[step])).toBe('accepted');
  });

  it.each(steps)('%s: arbitrary JSON is rejected with a code and changes nothing', (step) => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(feed(f, step, encode(value))).toBe('rejected');
      }),
      { numRuns: 200 },
    );
  });

  it.each(steps)('%s: arbitrary bytes are rejected with a code and change nothing', (step) => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        expect(feed(f, step, bytes)).toBe('rejected');
      }),
      { numRuns: 200 },
    );
  });

  it.each(steps)(
    '%s: valid metadata with bytes flipped is rejected, unless what it signs is still exactly what was signed',
    (step) => {
      const original = f.valid[step];
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.nat({ max: original.byteLength - 1 }), fc.integer({ min: 1, max: 255 })), {
            minLength: 1,
            maxLength: 4,
          }),
          (flips) => {
            const mutated = Uint8Array.from(original);
            for (const [at, xor] of flips) mutated[at] = (mutated[at] ?? 0) ^ xor;
            fc.pre(!same(mutated, original)); // two flips of one byte can cancel out
            if (feed(f, step, mutated) === 'accepted') expect(signedPart(mutated)).toBe(signedPart(original));
          },
        ),
        { numRuns: 200 },
      );
    },
  );

  it.each(steps)(
    '%s: valid signed structure with a field replaced by another value is rejected with a code',
    (step) => {
      const original = JSON.parse(new TextDecoder().decode(f.valid[step])) as {
        signed: Record<string, unknown>;
      };
      const fields = Object.keys(original.signed);
      fc.assert(
        fc.property(fc.constantFrom(...fields), fc.jsonValue(), (field, value) => {
          fc.pre(canonical(value) !== canonical(original.signed[field])); // a value equal to the old one
          const mutated = { ...original, signed: { ...original.signed, [field]: value } };
          expect(feed(f, step, encode(mutated))).toBe('rejected');
        }),
        { numRuns: 200 },
      );
    },
  );
});
