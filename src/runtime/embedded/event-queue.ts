/** A min-heap of timed events; ties break by insertion order so runs are deterministic. */
export class EventQueue<T> {
  private heap: { at: number; order: number; item: T }[] = [];
  private counter = 0;

  /** Number of queued events. */
  get size(): number {
    return this.heap.length;
  }

  /** Queues `item` at time `at`, ms. */
  push(at: number, item: T): void {
    const node = { at, order: this.counter++, item };
    const h = this.heap;
    h.push(node);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(node, h[parent] as typeof node)) break;
      h[i] = h[parent] as typeof node;
      i = parent;
    }
    h[i] = node;
  }

  /** Removes and returns the earliest event, or undefined when empty. */
  pop(): { at: number; item: T } | undefined {
    const h = this.heap;
    const top = h[0];
    if (!top) return undefined;
    const last = h.pop() as typeof top;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = -1;
        let best = last;
        const left = h[l];
        const right = h[r];
        if (left && less(left, best)) {
          m = l;
          best = left;
        }
        if (right && less(right, best)) {
          m = r;
          best = right;
        }
        if (m < 0) break;
        h[i] = best;
        i = m;
      }
      h[i] = last;
    }
    return { at: top.at, item: top.item };
  }

  /** Time of the earliest event, or ∞. */
  peekTime(): number {
    return this.heap[0]?.at ?? Number.POSITIVE_INFINITY;
  }
}

function less(a: { at: number; order: number }, b: { at: number; order: number }): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}
