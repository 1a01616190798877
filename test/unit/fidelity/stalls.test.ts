import { describe, expect, it } from 'vitest';
import { runEngineScenario } from '../../../src/fidelity/engine-scenario.ts';
import { engineFigures } from '../../../src/fidelity/figures.ts';
import { mean } from '../../../src/fidelity/fit.ts';
import { drawStall, fitStall, STALL_QUANTILES, stalledProfile } from '../../../src/fidelity/stalls.ts';

describe('request → reply stall: fit, draw, profile', () => {
  it('fits the floor and the quantiles above it', () => {
    const fit = fitStall([3, 1, Number.NaN, 5, 1, 11]);
    expect(fit.floorMs).toBe(1);
    expect(fit.n).toBe(5);
    expect(fit.quantilesMs).toHaveLength(STALL_QUANTILES);
    expect(fit.quantilesMs[0]).toBe(0);
    expect(fit.quantilesMs.at(-1)).toBeGreaterThan(8);
    expect(fit.quantilesMs).toEqual([...fit.quantilesMs].sort((a, b) => a - b));
    expect(fit.meanMs).toBeCloseTo(mean(fit.quantilesMs), 9);
  });

  it('refuses an empty gap', () => {
    expect(() => fitStall([Number.NaN])).toThrow('at least one checkpoint');
  });

  it('draws are deterministic per (seed, epoch) and reach every quantile, with the fit’s mean', () => {
    const fit = fitStall(Array.from({ length: 100 }, (_, i) => i));
    const draws = Array.from({ length: 4000 }, (_, e) => drawStall(fit, 1, e, 1));
    expect(Array.from({ length: 50 }, (_, e) => drawStall(fit, 1, e, 1))).toEqual(draws.slice(0, 50));
    expect(new Set(draws).size).toBe(STALL_QUANTILES);
    // 4000 draws of a spread of ~29 ms: the sample mean's standard error is ~0.5 ms.
    expect(Math.abs(mean(draws) - fit.meanMs)).toBeLessThan(2);
    expect(draws.slice(0, 50)).not.toEqual(Array.from({ length: 50 }, (_, e) => drawStall(fit, 2, e, 1)));
  });

  it('the profile takes the reply floor as its round trip and gives the rest of the mean to the prep', () => {
    const reply = fitStall([0.2, 4, 10, 30]);
    const costs = { prepMs: 5, flushBytesPerMs: 1e6, deviceLoadMs: 40, applyBytesPerMs: 1e12 };
    const p = stalledProfile({ bandwidthBytesPerSec: 1e9, latencyMs: 6 }, costs, reply);
    expect(p.link.latencyMs).toBeCloseTo(0.1, 9);
    // The pause (prep + 2 × latency + …) keeps its total: 5 + 12 = 16.8 + 0.2.
    expect(p.costs.prepMs + 2 * p.link.latencyMs).toBeCloseTo(costs.prepMs + 12, 9);
    expect(p.costs.deviceLoadMs).toBe(40);
  });

  it('the engine run draws one stall per checkpoint into its request → reply', () => {
    const base = {
      pages: 64,
      delayMs: 100,
      durationMs: 3000,
      deviceStateBytes: 1000,
      link: { bandwidthBytesPerSec: 1e9, latencyMs: 0.1 },
      costs: { prepMs: 1, flushBytesPerMs: 1e6, deviceLoadMs: 5, applyBytesPerMs: 1e12 },
      failover: false,
    };
    const replyStall = fitStall(Array.from({ length: 40 }, (_, i) => 0.2 + i));
    const plain = engineFigures(runEngineScenario(base).checkpoints).map((f) => f.replyMs);
    const drawn = engineFigures(runEngineScenario({ ...base, replyStall }).checkpoints).map((f) => f.replyMs);
    expect(new Set(plain.map((x) => x.toFixed(6))).size).toBe(1);
    expect(new Set(drawn.map((x) => x.toFixed(6))).size).toBeGreaterThan(5);
    expect(mean(drawn) - mean(plain)).toBeGreaterThan(replyStall.meanMs / 2);
  });
});
