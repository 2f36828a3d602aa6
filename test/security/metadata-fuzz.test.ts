import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { isUprollError } from '../../core/index.ts';
import { TrustedRepository } from '../../core/tuf/index.ts';
import { MockRepository, NOW, targetOf } from '../helpers/mock-repository.ts';
import { trustedState } from '../helpers/tuf-client.ts';

let repo: MockRepository;
let anchor: Uint8Array;
beforeAll(async () => {
  repo = new MockRepository();
  repo.targets['a.img'] = targetOf(new TextEncoder().encode('a'));
  anchor = await repo.publishRoot();
  await repo.publish();
});

type Step = 'root' | 'timestamp' | 'snapshot' | 'targets';

/** A client that has trusted everything up to (not including) `step`. */
function clientAt(step: Step): TrustedRepository {
  const client = new TrustedRepository(anchor);
  if (step === 'root') return client;
  client.finishRootUpdates(NOW);
  if (step === 'timestamp') return client;
  client.updateTimestamp(repo.served('timestamp'), NOW);
  if (step === 'snapshot') return client;
  client.updateSnapshot(repo.served('snapshot'), NOW);
  return client;
}

function apply(client: TrustedRepository, step: Step, bytes: Uint8Array): void {
  if (step === 'root') client.updateRoot(bytes);
  else if (step === 'timestamp') client.updateTimestamp(bytes, NOW);
  else if (step === 'snapshot') client.updateSnapshot(bytes, NOW);
  else client.updateTargets(bytes, NOW);
}

/** Feeds `bytes` to `step`: it may only throw coded errors, and a throw must change nothing. */
function feed(step: Step, bytes: Uint8Array): void {
  const client = clientAt(step);
  const before = trustedState(client);
  try {
    apply(client, step, bytes);
  } catch (err) {
    if (!isUprollError(err)) throw new Error(`uncoded error: ${String(err)}`, { cause: err });
    expect(trustedState(client)).toEqual(before);
  }
}

const steps: Step[] = ['root', 'timestamp', 'snapshot', 'targets'];
const served = (step: Step) => (step === 'root' ? anchor : repo.served(step));

describe('the trust core under random and mutated metadata', () => {
  it.each(steps)('%s: arbitrary JSON never crashes and never changes what is trusted', (step) => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) =>
        feed(step, new TextEncoder().encode(JSON.stringify(value) ?? 'null')),
      ),
      { numRuns: 200 },
    );
  });

  it.each(steps)('%s: arbitrary bytes never crash', (step) => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => feed(step, bytes)),
      { numRuns: 200 },
    );
  });

  it.each(steps)(
    '%s: valid metadata with bytes flipped is rejected or still valid, never half-applied',
    (step) => {
      const original = served(step);
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.nat({ max: original.byteLength - 1 }), fc.integer({ min: 1, max: 255 })), {
            minLength: 1,
            maxLength: 4,
          }),
          (flips) => {
            const mutated = Uint8Array.from(original);
            for (const [at, xor] of flips) mutated[at] = (mutated[at] ?? 0) ^ xor;
            feed(step, mutated);
          },
        ),
        { numRuns: 200 },
      );
    },
  );

  it.each(steps)(
    '%s: valid signed structure with a field replaced by a random value is rejected with a code',
    (step) => {
      const original = JSON.parse(new TextDecoder().decode(served(step))) as {
        signed: Record<string, unknown>;
      };
      const fields = Object.keys(original.signed);
      fc.assert(
        fc.property(fc.constantFrom(...fields), fc.jsonValue(), (field, value) => {
          const mutated = { ...original, signed: { ...original.signed, [field]: value } };
          feed(step, new TextEncoder().encode(JSON.stringify(mutated)));
        }),
        { numRuns: 200 },
      );
    },
  );
});
