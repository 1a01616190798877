import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseKeptRuns, poolRuns } from '../../../src/fidelity/pooled.ts';
import { LINK_PROFILES } from '../../../src/parameters/link-profiles.ts';

/** Relative difference (the profile's figures are the fit's, rounded). */
const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('qemu-tcg-loopback', () => {
  it('holds the fit over the runs kept in fidelity/runs.json (update both together)', () => {
    const text = readFileSync(join(import.meta.dirname, '../../../fidelity/runs.json'), 'utf8');
    const pooled = poolRuns(parseKeptRuns(text));
    const c = pooled.calibration;
    const p = LINK_PROFILES['qemu-tcg-loopback'];
    const pairs: [string, number, number][] = [
      ['bandwidth', p.bandwidthBytesPerSec, c.link.bandwidthBytesPerSec],
      ['latency', p.latencyMs, c.link.latencyMs],
      ['prep', p.costs.prepMs, c.costs.prepMs],
      ['flush', p.costs.flushBytesPerMs, c.costs.flushBytesPerMs],
      ['device load', p.costs.deviceLoadMs, c.costs.deviceLoadMs],
      ['device state', p.deviceStateBytes, pooled.deviceStateBytes],
    ];
    for (const [name, profile, fit] of pairs) expect(rel(profile, fit), name).toBeLessThan(0.005);
  });
});
