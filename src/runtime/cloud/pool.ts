/** Bounded concurrency for I/O fan-out (chunk loads, per-VM reads). */

/** Runs `f` over `items` with at most `limit` at a time (a rejection rejects the whole, as `Promise.all`). */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  f: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await f(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
