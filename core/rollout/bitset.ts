// Pure: workflow code carries these across continue-as-new.

/** One bit per device of a wave, by its position in the wave: small at any fleet size (50,000 devices: 6 KB). */
export class Bitset {
  readonly size: number;
  readonly #bytes: Uint8Array;

  constructor(size: number, bytes?: Uint8Array) {
    this.size = size;
    this.#bytes = bytes ?? new Uint8Array(Math.ceil(size / 8));
  }

  /** From {@link Bitset.toHex}; a string of the wrong length starts empty rather than misread. */
  static fromHex(size: number, hex: string): Bitset {
    const bytes = new Uint8Array(Math.ceil(size / 8));
    if (hex.length !== bytes.length * 2) return new Bitset(size, bytes);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
    return new Bitset(size, bytes);
  }

  has(index: number): boolean {
    return ((this.#bytes[index >> 3] ?? 0) & (1 << (index & 7))) !== 0;
  }

  set(index: number, on = true): void {
    if (index < 0 || index >= this.size) return;
    const byte = this.#bytes[index >> 3] ?? 0;
    this.#bytes[index >> 3] = on ? byte | (1 << (index & 7)) : byte & ~(1 << (index & 7));
  }

  count(): number {
    let n = 0;
    for (let i = 0; i < this.size; i++) if (this.has(i)) n += 1;
    return n;
  }

  toHex(): string {
    let hex = '';
    for (const byte of this.#bytes) hex += byte.toString(16).padStart(2, '0');
    return hex;
  }
}
