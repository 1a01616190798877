import { describe, expect, it } from 'vitest';
import { resolveScenario, ScenarioError } from '../../../src/cli/scenario.ts';
import { DEFAULT_PARAMS } from '../../../src/engine/params.ts';
import { LINK_PROFILES } from '../../../src/parameters/link-profiles.ts';

const qemu = LINK_PROFILES['qemu-tcg-loopback'];

describe('--link-profile', () => {
  it('qemu-tcg-loopback sets the link, the costs and the device state', () => {
    const s = resolveScenario({ linkProfile: 'qemu-tcg-loopback' });
    expect(s.link).toEqual({ bandwidthBytesPerSec: qemu.bandwidthBytesPerSec, latencyMs: qemu.latencyMs });
    expect(s.params.costs).toEqual(qemu.costs);
    expect(s.params.deviceStateBytes).toBe(qemu.deviceStateBytes);
  });

  it('a value set alongside wins over the profile', () => {
    const s = resolveScenario({ linkProfile: 'qemu-tcg-loopback', latency: '1ms', deviceState: '4KiB' });
    expect(s.link.latencyMs).toBe(1);
    expect(s.link.bandwidthBytesPerSec).toBe(qemu.bandwidthBytesPerSec);
    expect(s.params.deviceStateBytes).toBe(4096);
  });

  it('none (the default) leaves the defaults', () => {
    const s = resolveScenario({});
    expect(s.params.costs).toEqual(DEFAULT_PARAMS.costs);
    expect(s.link.latencyMs).toBe(0.1);
  });

  it('refuses an unknown profile', () => {
    expect(() => resolveScenario({ linkProfile: 'qemu' })).toThrow(ScenarioError);
  });
});
