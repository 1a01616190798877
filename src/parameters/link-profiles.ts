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
 * The profiles. `qemu-tcg-loopback`: Debian 12's QEMU 7.2 COLO under TCG, both VMs on loopback of an
 * otherwise idle 2-core machine (the link meter between them on 127.0.83.1, acknowledging at once), fitted by `npm run fidelity` over the runs kept in fidelity/runs.json (src/fidelity/pooled.ts:
 * the pause through each run's per-size median, the send, flush and gaps through its per-size means; the fit,
 * and each kept run against the line fitted over the others, are in docs/fidelity.md, and
 * test/unit/fidelity/profile.test.ts checks these figures are that fit's). `npm run fidelity` checks this
 * profile's pause against each new run's per-size medians. The pause is a fixed ~45 ms (mostly the delayed ACK of `vmstate-loaded`) plus
 * ~0.005 ms per dirty page, fitted on runs of an otherwise idle machine (load 1.2–1.6) with the link meter
 * acknowledging the primary's bytes at once (src/fidelity/relay-ack.ts): under a shared machine's load QEMU's
 * per-page cost grows (two busy loops on the two cores: 8192 pages paused 119 ms against 80–98 ms), which no
 * profile without the load as an input can follow (docs/fidelity.md, eighth and ninth passes). QEMU's timer
 * callback also ran ~0–716 ms late per tick on loaded runs (its period is the delay plus that); the profile
 * leaves the delay as given.
 * Its latency is half the mean request → reply (a stand-in for the VM stops); `npm run fidelity` itself runs
 * the engine with that gap's floor and a stall drawn per checkpoint instead (src/fidelity/stalls.ts), and its
 * checked count with the run's own stall timeline (src/fidelity/host-timeline.ts).
 */
export const LINK_PROFILES: Readonly<Record<Exclude<LinkProfileName, 'none'>, LinkProfile>> = {
  'qemu-tcg-loopback': {
    bandwidthBytesPerSec: 975_646_852,
    latencyMs: 1.131,
    deviceStateBytes: 12_644,
    costs: { prepMs: 5.708, flushBytesPerMs: 5_737_364, deviceLoadMs: 37.35, applyBytesPerMs: 1e12 },
    source: 'docs/fidelity.md (npm run fidelity, fit over fidelity/runs.json)',
  },
};
