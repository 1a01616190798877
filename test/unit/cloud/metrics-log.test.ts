import { describe, expect, test } from 'vitest';
import {
  appendLog,
  type LogRecord,
  logSegmentKey,
  MemoryStateStore,
  readLog,
} from '../../../src/runtime/cloud/index.ts';

const layout = { segmentRecords: 4, segments: 3 };

function records(from: number, to: number): LogRecord[] {
  return Array.from({ length: to - from }, (_, i) => ({
    n: from + i,
    at: 1000 + from + i,
    node: 'primary' as const,
    type: 'pending-check' as const,
    data: { at: 1000 + from + i, pendingBytes: 4096 * i, decision: 'none' as const },
  }));
}

describe('metrics log ring', () => {
  test('appends in order and reads back', async () => {
    const store = new MemoryStateStore();
    await appendLog(store, 'vm-0', 'primary', records(0, 3), layout);
    await appendLog(store, 'vm-0', 'primary', records(3, 7), layout);
    const view = await readLog(store, 'vm-0', 'primary', 0, layout);
    expect(view.records.map((r) => r.n)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(view.next).toBe(7);
    expect((await readLog(store, 'vm-0', 'primary', 5, layout)).records.map((r) => r.n)).toEqual([5, 6]);
  });

  test('is bounded: only the newest segments are kept', async () => {
    const store = new MemoryStateStore();
    for (let n = 0; n < 40; n += 5) await appendLog(store, 'vm-0', 'primary', records(n, n + 5), layout);
    const view = await readLog(store, 'vm-0', 'primary', 0, layout);
    // 40 records, segments of 4, 3 kept: segments 7, 8, 9 → records 28..39.
    expect(view.records.map((r) => r.n)).toEqual(Array.from({ length: 12 }, (_, i) => 28 + i));
    expect(store.keys().filter((k) => k.includes('/log/')).length).toBe(3);
    expect(store.keys()).toContain(logSegmentKey('vm-0', 'primary', 0));
  });

  test('a replayed append adds nothing twice; a stale one is dropped', async () => {
    const store = new MemoryStateStore();
    await appendLog(store, 'vm-0', 'primary', records(0, 6), layout);
    await appendLog(store, 'vm-0', 'primary', records(2, 6), layout);
    expect((await readLog(store, 'vm-0', 'primary', 0, layout)).records.length).toBe(6);
    await appendLog(store, 'vm-0', 'primary', records(6, 30), layout);
    const saves = store.stats.saves;
    await appendLog(store, 'vm-0', 'primary', records(0, 2), layout);
    expect(store.stats.saves).toBe(saves);
  });

  test('concurrent appends to one segment all land (compare-and-swap)', async () => {
    const store = new MemoryStateStore();
    await Promise.all(
      [0, 1, 2, 3].map((n) => appendLog(store, 'vm-0', 'primary', records(n, n + 1), layout)),
    );
    expect((await readLog(store, 'vm-0', 'primary', 0, layout)).records.map((r) => r.n)).toEqual([
      0, 1, 2, 3,
    ]);
    expect(store.stats.conflicts).toBeGreaterThan(0);
  });

  test('nodes and VMs have their own logs', async () => {
    const store = new MemoryStateStore();
    await appendLog(store, 'vm-0', 'primary', records(0, 2), layout);
    expect((await readLog(store, 'vm-0', 'secondary', 0, layout)).records).toEqual([]);
    expect((await readLog(store, 'vm-1', 'primary', 0, layout)).next).toBe(0);
  });
});
