/** Pages per span of {@link DirtyBitmap.spanCount} (64 pages: 8 bytes of bits). */
export const SPAN_PAGES = 64;
const SPAN_BYTES = SPAN_PAGES / 8;
/** Set bits of every byte value. */
const POPCOUNT = new Uint8Array(256);
for (let v = 1; v < 256; v++) POPCOUNT[v] = (v & 1) + (POPCOUNT[v >> 1] ?? 0);

/**
 * A fixed-size bitmap over guest pages with a running count of set bits, in all and per span of
 * {@link SPAN_PAGES} pages (kept as bits change, so a reader of every span's count pays one load each).
 */
export class DirtyBitmap {
  /** Bits, one per page. Write them only through the methods: the counts follow the methods. */
  readonly bits: Uint8Array;
  /** Number of pages covered. */
  readonly size: number;
  private setCount = 0;
  /** Set bits per span of {@link SPAN_PAGES} pages (derived from `bits`, never serialised). */
  private readonly spans: Uint8Array;

  /** Creates an all-clear bitmap over `size` pages, or one over the given bits. */
  constructor(size: number, bits?: Uint8Array) {
    this.size = size;
    this.bits = bits ?? new Uint8Array(Math.ceil(size / 8));
    this.spans = new Uint8Array(Math.ceil(this.bits.length / SPAN_BYTES));
    if (bits) {
      for (let b = 0; b < bits.length; b++) {
        const n = POPCOUNT[bits[b] ?? 0] ?? 0;
        this.setCount += n;
        this.spans[b >>> 3] = (this.spans[b >>> 3] ?? 0) + n;
      }
    }
  }

  /** Set pages among the {@link SPAN_PAGES} pages of span `s` (pages 64·s to 64·s + 63), 0..64. */
  spanCount(s: number): number {
    return this.spans[s] ?? 0;
  }

  /**
   * Set pages per span, one byte per span of {@link SPAN_PAGES} pages: for loops over every span (one load
   * each, no call). Read only: the counts follow the bits through the methods.
   */
  get spanCounts(): Uint8Array {
    return this.spans;
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
    this.spans[i >>> 6] = (this.spans[i >>> 6] ?? 0) + 1;
    return true;
  }

  /** Clears page `i`; returns true if it was set. */
  clear(i: number): boolean {
    const byte = this.bits[i >>> 3] ?? 0;
    const mask = 1 << (i & 7);
    if (!(byte & mask)) return false;
    this.bits[i >>> 3] = byte & ~mask;
    this.setCount--;
    this.spans[i >>> 6] = (this.spans[i >>> 6] ?? 1) - 1;
    return true;
  }

  /** Clears the bytes [`from`, `to`) of the bitmap (pages 8·from to 8·to − 1). */
  clearBytes(from: number, to: number): void {
    const { bits, spans } = this;
    const end = Math.min(to, bits.length);
    for (let b = Math.max(0, from); b < end; b++) {
      const x = bits[b] ?? 0;
      if (x === 0) continue;
      bits[b] = 0;
      const n = POPCOUNT[x] ?? 0;
      this.setCount -= n;
      spans[b >>> 3] = (spans[b >>> 3] ?? n) - n;
    }
  }

  /** Clears every bit. */
  reset(): void {
    this.bits.fill(0);
    this.spans.fill(0);
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
