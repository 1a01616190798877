/**
 * Merging a monitor tick's updates into the stored monitor document (monitor-document.ts `mergeMonitor`):
 * with two mappings two ticks may step the same VM; the one that stepped it later keeps its entry, and
 * entries of other VMs a concurrent tick wrote are kept.
 */
import { describe, expect, it } from 'vitest';
import { emptyMonitor, type MonitorVm, mergeMonitor } from '../../../src/runtime/cloud/monitor-document.ts';

const older: MonitorVm = { wakeAt: 5000, steppedAt: 1000, epoch: 3, seq: 7 };
const newer: MonitorVm = { wakeAt: 9000, steppedAt: 2000, epoch: 3, seq: 9 };
const doc = (vms: Record<string, MonitorVm>) => ({ ...emptyMonitor(), at: 2000, vms });
const all = new Set(['a', 'b']);

describe('mergeMonitor', () => {
  it('a tick that stepped a VM earlier does not put its older wake back over a later step', () => {
    expect(mergeMonitor(doc({ a: newer }), { a: older }, 2500, all).vms.a).toEqual(newer);
    expect(mergeMonitor(doc({ a: older }), { a: newer }, 2500, all).vms.a).toEqual(newer);
  });

  it("a tie is this tick's; other VMs' entries written meanwhile are kept; removed VMs dropped", () => {
    const mine = { ...older, wakeAt: 6000 };
    const merged = mergeMonitor(doc({ a: older, b: newer, gone: newer }), { a: mine }, 2500, all);
    expect(merged.vms).toEqual({ a: mine, b: newer });
    expect(merged.at).toBe(2500);
    // The stamp never goes back.
    expect(mergeMonitor(doc({}), {}, 1500, all).at).toBe(2000);
  });
});
