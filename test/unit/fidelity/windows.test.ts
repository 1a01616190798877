import { describe, expect, it } from 'vitest';
import { SCENARIOS, scenarioWindows, WINDOW_ORDER } from '../../../src/fidelity/run-fidelity.ts';

describe('the reference windows: each scenario twice, in mirrored order', () => {
  const windows = scenarioWindows();

  it('runs every scenario twice, the second half the first reversed', () => {
    expect(windows.map((w) => w.index)).toEqual([...WINDOW_ORDER]);
    const half = WINDOW_ORDER.length / 2;
    expect(WINDOW_ORDER.slice(half)).toEqual(WINDOW_ORDER.slice(0, half).reverse());
    for (const i of SCENARIOS.keys()) {
      expect(windows.filter((w) => w.index === i).map((w) => w.window)).toEqual([1, 2]);
    }
  });

  it("a steady drift falls on every size alike: each size's two windows average to the middle", () => {
    const middle = (WINDOW_ORDER.length - 1) / 2;
    for (const i of SCENARIOS.keys()) {
      const at = windows.flatMap((w, k) => (w.index === i ? [k] : []));
      expect((at[0] as number) + (at[1] as number)).toBe(2 * middle);
    }
  });

  it("fails over once, at the end of the failover scenario's last window", () => {
    const failing = windows.filter((w) => w.scenario.failover);
    expect(failing).toHaveLength(1);
    const f = failing[0];
    expect(f?.window).toBe(2);
    expect(SCENARIOS[f?.index ?? -1]?.failover).toBe(true);
  });
});
