/** Seeded mutation helpers shared by the fuzz tests (deterministic: a failure reproduces from its seed). */
import { xorshift } from '../unit/wire/page-content.ts';

/** A seeded random source. */
export class Rng {
  private readonly next: () => number;
  /** @param seed - Any 32-bit integer. */
  constructor(seed: number) {
    this.next = xorshift(seed);
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return this.next() % n;
  }
  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() / 2 ** 32 < p;
  }
  /** A random element. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  /** `n` random bytes. */
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** u32 values that sit on boundaries of the format's size arithmetic. */
const INTERESTING_U32 = [
  0, 1, 2, 3, 7, 63, 64, 127, 128, 4095, 4096, 4097, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff,
];
const INTERESTING_U8 = [0, 1, 2, 3, 4, 0x7f, 0x80, 0xfe, 0xff];

/**
 * Applies 1–4 random byte-level mutations to a copy of `input`: bit flips, byte and u32-field overwrites
 * and, unless `keepLength`, insertions, deletions, duplications, truncation and appends.
 */
export function mutateBytes(
  rng: Rng,
  input: Uint8Array,
  fieldOffsets: readonly number[],
  keepLength = false,
): Buffer {
  let b = Buffer.from(input);
  const ops = 1 + rng.int(4);
  for (let k = 0; k < ops; k++) {
    const at = b.length === 0 ? 0 : rng.int(b.length);
    switch (rng.int(keepLength ? 4 : 9)) {
      case 0:
        if (b.length) b[at] = (b[at] as number) ^ (1 << rng.int(8));
        break;
      case 1:
        if (b.length) b[at] = rng.int(256);
        break;
      case 2:
        if (b.length) b[at] = rng.pick(INTERESTING_U8);
        break;
      case 3: {
        const off = rng.pick(fieldOffsets);
        if (off + 4 <= b.length)
          b.writeUInt32LE(rng.chance(0.2) ? b.length + rng.int(3) - 1 : rng.pick(INTERESTING_U32), off);
        break;
      }
      case 4:
        b = Buffer.concat([b.subarray(0, at), rng.bytes(1 + rng.int(8)), b.subarray(at)]);
        break;
      case 5:
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(16)))]);
        break;
      case 6: {
        const end = Math.min(b.length, at + 1 + rng.int(32));
        b = Buffer.concat([b.subarray(0, end), b.subarray(at, end), b.subarray(end)]);
        break;
      }
      case 7:
        b = b.subarray(0, rng.int(b.length + 1));
        break;
      default:
        b = Buffer.concat([b, rng.bytes(1 + rng.int(8))]);
    }
  }
  return Buffer.from(b);
}
