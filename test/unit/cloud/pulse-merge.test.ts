/**
 * Merging a pulse's updates into the stored pulse document (pulse-document.ts `mergePulse`): the later
 * step wins per VM; a failure of the same step counts; an in-flight mark is set by its update and cleared
 * by the step's own entry or by a failure of that step.
 */
import { describe, expect, it } from 'vitest';
import { emptyPulse, mergePulse, type PulseVm } from '../../../src/runtime/cloud/pulse-document.ts';

const seen = { at: 900, epoch: 2, seq: 5 };
const stepped: PulseVm = { steppedAt: 1000, seen, failures: 0, lastStepMs: 40 };
const doc = (vms: Record<string, PulseVm>) => ({ ...emptyPulse(), at: 1000, vms });

describe('mergePulse', () => {
  it('the later step wins; an older one is ignored', () => {
    const newer: PulseVm = { steppedAt: 2000, seen: { ...seen, at: 2000 }, failures: 0 };
    expect(mergePulse(doc({ a: stepped }), { a: newer }, 2000).vms.a).toEqual(newer);
    expect(mergePulse(doc({ a: newer }), { a: stepped }, 2000).vms.a).toEqual(newer);
  });

  it('an in-flight mark is kept on the same step and cleared by the step that ends it', () => {
    const marked = mergePulse(doc({ a: stepped }), { a: { ...stepped, inFlightSince: 1500 } }, 1500);
    expect(marked.vms.a?.inFlightSince).toBe(1500);
    expect(marked.vms.a?.seen).toEqual(seen);
    const done = mergePulse(
      marked,
      { a: { steppedAt: 1500, seen: null, failures: 0, lastStepMs: 9000 } },
      10_500,
    );
    expect(done.vms.a?.inFlightSince).toBeUndefined();
    expect(done.vms.a?.lastStepMs).toBe(9000);
  });

  it('a failure of the marked step clears the mark and counts (the VM is due again)', () => {
    const marked = doc({ a: { ...stepped, inFlightSince: 1500 } });
    const failed = mergePulse(marked, { a: { ...stepped, failures: 1 } }, 3000);
    expect(failed.vms.a?.inFlightSince).toBeUndefined();
    expect(failed.vms.a?.failures).toBe(1);
  });

  it("a new VM's mark has no step yet; a removed VM's entry goes", () => {
    const fresh = mergePulse(
      doc({ a: stepped }),
      { b: { steppedAt: 0, seen: null, failures: 0, inFlightSince: 1200 } },
      1200,
      new Set(['b']),
    );
    expect(Object.keys(fresh.vms)).toEqual(['b']);
    expect(fresh.vms.b?.inFlightSince).toBe(1200);
  });
});
