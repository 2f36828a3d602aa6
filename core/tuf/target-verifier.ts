import { createHash, type Hash } from 'node:crypto';
import { UprollError } from '../errors.ts';

/** What trusted metadata says a target is: its exact length and hashes. */
export interface TargetInfo {
  length: number;
  hashes: Record<string, string>;
}

const SUPPORTED = ['sha256', 'sha512'] as const;

/**
 * Checks a target's bytes as they stream in, never holding them: more bytes
 * than the trusted length stop the transfer at once (ENDLESS_DATA); at the
 * end the length must be exact and every supported hash must match.
 */
export class TargetVerifier {
  readonly #target: TargetInfo;
  readonly #name: string;
  #hashes: [string, Hash][];
  #received = 0;

  constructor(target: TargetInfo, name: string) {
    this.#target = target;
    this.#name = name;
    this.#hashes = SUPPORTED.filter((algorithm) => target.hashes[algorithm] !== undefined).map(
      (algorithm) => [algorithm, createHash(algorithm)],
    );
    if (this.#hashes.length === 0) {
      throw new UprollError(
        'BAD_METADATA',
        `${name} lists no sha256 or sha512 hash to check its bytes against`,
      );
    }
  }

  /** Forgets what was fed so far (the server sent the whole file again). */
  reset(): void {
    this.#received = 0;
    this.#hashes = this.#hashes.map(([algorithm]) => [algorithm, createHash(algorithm)]);
  }

  get received(): number {
    return this.#received;
  }

  update(chunk: Uint8Array): void {
    this.#received += chunk.byteLength;
    if (this.#received > this.#target.length) {
      throw new UprollError(
        'ENDLESS_DATA',
        `${this.#name} is longer than the ${this.#target.length} bytes its metadata lists`,
      );
    }
    for (const [, hash] of this.#hashes) hash.update(chunk);
  }

  /** Ends the check: throws LENGTH_MISMATCH or HASH_MISMATCH unless the bytes are exactly the target. */
  finish(): void {
    if (this.#received !== this.#target.length) {
      throw new UprollError(
        'LENGTH_MISMATCH',
        `${this.#name} is ${this.#received} bytes, its metadata lists ${this.#target.length}`,
      );
    }
    for (const [algorithm, hash] of this.#hashes) {
      if (hash.digest('hex') !== this.#target.hashes[algorithm]?.toLowerCase()) {
        throw new UprollError(
          'HASH_MISMATCH',
          `${this.#name} does not have the ${algorithm} its metadata lists`,
        );
      }
    }
  }
}

/** Checks a whole target held in memory. */
export function verifyTargetBytes(bytes: Uint8Array, target: TargetInfo, name: string): void {
  const verifier = new TargetVerifier(target, name);
  verifier.update(bytes);
  verifier.finish();
}
