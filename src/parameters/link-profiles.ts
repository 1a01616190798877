/**
 * Link and cost profiles: named sets of the embedded runtime's link (bandwidth, latency) and the engine's
 * local costs, calibrated from a reference. `--link-profile NAME` (registry parameter `linkProfile`) starts
 * from one; `--bandwidth`, `--latency` and `--device-state` given as well win over it.
 */
import type { CostModel } from '../engine/params.ts';

/** One profile. */
export interface LinkProfile {
  /** Link bandwidth, each way, bytes/s. */
  bandwidthBytesPerSec: number;
  /** One-way latency, ms. */
  latencyMs: number;
  /** Device state per checkpoint, bytes. */
  deviceStateBytes: number;
  /** Local costs. */
  costs: CostModel;
  /** Where the figures come from. */
  source: string;
}

/** Profile names (`none`: the parameters' own defaults). */
export const LINK_PROFILE_NAMES = ['none', 'qemu-tcg-loopback'] as const;

/** A profile name. */
export type LinkProfileName = (typeof LINK_PROFILE_NAMES)[number];

/**
 * The profiles. `qemu-tcg-loopback`: Debian 12's QEMU 7.2 COLO under TCG, both VMs on 127.0.0.1 of a shared
 * 2-core machine, fitted by `npm run fidelity` (src/fidelity/calibrate.ts; the fit and the run it came from
 * are in docs/fidelity.md; these figures are that run's). The pause is a fixed ~60–90 ms (mostly the
 * delayed ACK of `vmstate-loaded`) plus 0.006–0.03 ms per dirty page: runs on the shared machine varied that
 * much with its load.
 */
export const LINK_PROFILES: Readonly<Record<Exclude<LinkProfileName, 'none'>, LinkProfile>> = {
  'qemu-tcg-loopback': {
    bandwidthBytesPerSec: 720_123_057,
    latencyMs: 3.37,
    deviceStateBytes: 12_644,
    costs: { prepMs: 9.54, flushBytesPerMs: 6_821_019, deviceLoadMs: 47.13, applyBytesPerMs: 1e12 },
    source: 'docs/fidelity.md (npm run fidelity)',
  },
};
