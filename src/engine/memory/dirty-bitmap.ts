/** A fixed-size bitmap over guest pages with a running count of set bits. */
export class DirtyBitmap {
  /** Bits, one per page. */
  readonly bits: Uint8Array;
  /** Number of pages covered. */
  readonly size: number;
  private setCount = 0;

  /** Creates an all-clear bitmap over `size` pages. */
  constructor(size: number, bits?: Uint8Array) {
    this.size = size;
    this.bits = bits ?? new Uint8Array(Math.ceil(size / 8));
    if (bits) this.setCount = countBits(bits);
  }

  /** Number of set bits (pages). */
  get count(): number {
    return this.setCount;
  }

  /** True when page `i` is set. */
  has(i: number): boolean {
    return ((this.bits[i >>> 3] ?? 0) & (1 << (i & 7))) !== 0;
  }

  /** Sets page `i`; returns true if it was clear. */
  set(i: number): boolean {
    const byte = this.bits[i >>> 3] ?? 0;
    const mask = 1 << (i & 7);
    if (byte & mask) return false;
    this.bits[i >>> 3] = byte | mask;
    this.setCount++;
    return true;
  }

  /** Clears page `i`; returns true if it was set. */
  clear(i: number): boolean {
    const byte = this.bits[i >>> 3] ?? 0;
    const mask = 1 << (i & 7);
    if (!(byte & mask)) return false;
    this.bits[i >>> 3] = byte & ~mask;
    this.setCount--;
    return true;
  }

  /** Clears the bytes [`from`, `to`) of the bitmap (pages 8·from to 8·to − 1). */
  clearBytes(from: number, to: number): void {
    const { bits } = this;
    const end = Math.min(to, bits.length);
    for (let b = Math.max(0, from); b < end; b++) {
      let x = bits[b] ?? 0;
      if (x === 0) continue;
      bits[b] = 0;
      while (x) {
        x &= x - 1;
        this.setCount--;
      }
    }
  }

  /** Clears every bit. */
  reset(): void {
    this.bits.fill(0);
    this.setCount = 0;
  }

  /**
   * Set page indices in ascending order. Skips empty 32-bit words, so sparse maps are cheap; the array is
   * allocated once at its final size.
   */
  indices(): number[] {
    const out: number[] = new Array(this.setCount);
    const { bits, size } = this;
    let j = 0;
    // Whole 32-bit words first (little-endian: bit k of word w is page 32·w + k), then the tail bytes.
    const words = bits.byteOffset % 4 === 0 ? bits.byteLength >>> 2 : 0;
    if (words > 0) {
      const view = new Uint32Array(bits.buffer, bits.byteOffset, words);
      for (let w = 0; w < words; w++) {
        let word = view[w] as number;
        if (word === 0) continue;
        const base = w * 32;
        while (word !== 0) {
          const low = word & -word;
          const i = base + (31 - Math.clz32(low));
          if (i < size) out[j++] = i;
          word ^= low;
        }
      }
    }
    for (let b = words * 4; b < bits.length; b++) {
      let byte = bits[b] as number;
      while (byte !== 0) {
        const low = byte & -byte;
        const i = b * 8 + (31 - Math.clz32(low));
        if (i < size) out[j++] = i;
        byte ^= low;
      }
    }
    out.length = j;
    return out;
  }

  /** A deep copy. */
  clone(): DirtyBitmap {
    return new DirtyBitmap(this.size, this.bits.slice());
  }
}

function countBits(bits: Uint8Array): number {
  let n = 0;
  for (const byte of bits) {
    let b = byte;
    while (b) {
      b &= b - 1;
      n++;
    }
  }
  return n;
}
