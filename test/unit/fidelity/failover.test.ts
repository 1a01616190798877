import { describe, expect, it } from 'vitest';
import { compareFailover } from '../../../src/fidelity/compare.ts';

describe('failover states: QEMU against the engine', () => {
  it("reads the engine's claiming as QEMU's require → active and compares the take-over", () => {
    const c = compareFailover(['require', 'active', 'completed'], ['relaunch', 'claiming', 'completed']);
    expect(c.qemuTakeover).toEqual(['require', 'active', 'completed']);
    expect(c.engineTakeover).toEqual(['require', 'active', 'completed']);
    expect(c.ok).toBe(true);
    // A relaunch on QEMU's side too (the failover came while a checkpoint loaded): the take-over after it.
    expect(
      compareFailover(
        ['require', 'active', 'relaunch', 'require', 'active', 'completed'],
        ['claiming', 'completed'],
      ).ok,
    ).toBe(true);
  });

  it('fails a take-over that differs, is missing or does not complete', () => {
    // The engine lost its fence claim: no QEMU state is that.
    expect(compareFailover(['require', 'active', 'completed'], ['claiming', 'fenced']).ok).toBe(false);
    expect(compareFailover(['require', 'active', 'completed'], []).ok).toBe(false);
    expect(compareFailover([], ['claiming', 'completed']).ok).toBe(false);
    // Both stuck alike is still no failover.
    expect(compareFailover(['require', 'active'], ['claiming']).ok).toBe(false);
    expect(compareFailover(['require', 'completed'], ['claiming', 'completed']).ok).toBe(false);
  });
});
