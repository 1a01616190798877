/**
 * The request → reply stall: how far QEMU's request → reply gap spreads above its floor, as a distribution
 * the engine draws from (seeded, one draw per checkpoint). On loopback the gap is no link latency (its floor
 * is a fraction of a ms): it is the secondary's VM stop and the primary's, each waiting for a CPU on a busy
 * host, ~0–60 ms and sometimes hundreds. Charging its mean as a link latency put it on every message of the
 * checkpoint and made every engine checkpoint equally long; under an overrunning delay the count follows the
 * spread of the checkpoint times and not only their mean: a long checkpoint loses a tick (up to a delay's
 * wait), a short one does not (docs/fidelity.md, "Per epoch under an overrunning delay").
 *
 * The send (stop → `vmstate-received`) spreads too (a delayed ACK about every other epoch, Nagle being on,
 * and host stalls), but the pause line fitted through means already carries much of that spread in its
 * per-page cost, leaving no constant to take a drawn stall from: it stays a constant (the named gap in
 * docs/fidelity.md).
 */
import type { CostModel } from '../engine/params.ts';
import { unit } from '../engine/rng.ts';
import type { LinkParams } from '../runtime/embedded/link.ts';
import type { CheckpointFigures } from './figures.ts';
import { mean } from './fit.ts';

/** How many quantiles a stall distribution keeps. */
export const STALL_QUANTILES = 20;

/** A fitted stall distribution: the extra time above the gap's floor. */
export interface StallFit {
  /** The gap's floor (its smallest value), ms: the constant part the engine charges always. */
  floorMs: number;
  /** {@link STALL_QUANTILES} quantiles of (gap − floor) at (i + ½) / k, ascending, ms. */
  quantilesMs: number[];
  /** Mean of the quantiles (what a draw adds on average), ms. */
  meanMs: number;
  /** Checkpoints the fit came from. */
  n: number;
}

/** Quantile `q` (0..1) of ascending `sorted` by linear interpolation. */
function quantile(sorted: readonly number[], q: number): number {
  const x = q * (sorted.length - 1);
  const lo = Math.floor(x);
  const a = sorted[lo] as number;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)] as number;
  return a + (b - a) * (x - lo);
}

/** Fits a stall distribution to a gap's values, ms (non-finite ones dropped; at least one needed). */
export function fitStall(values: readonly number[]): StallFit {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) throw new Error('a stall fit needs at least one checkpoint');
  const floorMs = v[0] as number;
  const quantilesMs = Array.from({ length: STALL_QUANTILES }, (_, i) =>
    quantile(
      v.map((x) => x - floorMs),
      (i + 0.5) / STALL_QUANTILES,
    ),
  );
  return { floorMs, quantilesMs, meanMs: mean(quantilesMs), n: v.length };
}

/** Fits the request → reply stall to a run's steady checkpoints. */
export function fitReplyStall(figs: readonly CheckpointFigures[]): StallFit {
  return fitStall(figs.map((f) => f.replyMs));
}

/** The stall of checkpoint `epoch` drawn from `fit` with `seed` and a per-gap `salt`, ms (deterministic). */
export function drawStall(fit: StallFit, seed: number, epoch: number, salt: number): number {
  const i = Math.floor(unit(seed, epoch, salt, 0x57a1) * fit.quantilesMs.length);
  return fit.quantilesMs[Math.min(i, fit.quantilesMs.length - 1)] ?? 0;
}

/**
 * Moves a profile fitted through means onto the reply stall: the link's round trip becomes the reply's floor
 * (the stall is drawn on top of it), and the prep takes back what the shorter round trip took out of the
 * pause, so the engine's mean pause stays the fitted line and its mean request → reply QEMU's mean.
 */
export function stalledProfile(
  link: LinkParams,
  costs: CostModel,
  reply: StallFit,
): { link: LinkParams; costs: CostModel } {
  const latencyMs = Math.min(link.latencyMs, reply.floorMs / 2);
  return {
    link: { ...link, latencyMs },
    costs: { ...costs, prepMs: costs.prepMs + 2 * (link.latencyMs - latencyMs) },
  };
}
