/**
 * Regions in the order a late round takes them — highest chance first, then lowest index — drawn one at a
 * time from a binary heap. A round usually takes a few of many candidate regions, so building the heap
 * (linear) and popping those few costs far less than sorting them all, and yields the same order.
 */
export class LikeliestFirst {
  private readonly heap: Uint32Array;
  private size: number;

  /**
   * A heap over the first `count` of `regions` (all of them by default; indices into `chance`, each chance
   * a finite number). `regions` is copied: the caller may reuse it.
   */
  constructor(
    regions: ArrayLike<number>,
    private readonly chance: Float64Array,
    count = regions.length,
  ) {
    const heap = new Uint32Array(count);
    for (let i = 0; i < count; i++) heap[i] = regions[i] as number;
    this.heap = heap;
    this.size = count;
    for (let i = (this.size >>> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /** The next region, or -1 when none is left. */
  pop(): number {
    if (this.size === 0) return -1;
    const top = this.heap[0] as number;
    this.size--;
    if (this.size > 0) {
      this.heap[0] = this.heap[this.size] as number;
      this.siftDown(0);
    }
    return top;
  }

  /** True when region `a` goes before region `b`. */
  private before(a: number, b: number): boolean {
    const ca = this.chance[a] ?? 0;
    const cb = this.chance[b] ?? 0;
    return ca > cb || (ca === cb && a < b);
  }

  private siftDown(from: number): void {
    const { heap, size } = this;
    let i = from;
    const item = heap[i] as number;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= size) break;
      const right = left + 1;
      let child = left;
      if (right < size && this.before(heap[right] as number, heap[left] as number)) child = right;
      const c = heap[child] as number;
      if (!this.before(c, item)) break;
      heap[i] = c;
      i = child;
    }
    heap[i] = item;
  }
}
