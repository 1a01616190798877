import type { ColoParams } from '../params.ts';

/** What a policy sees at a pending-RAM check. */
export interface PolicyView {
  /** Now, ms. */
  now: number;
  /** Dirty RAM not yet sent, bytes. */
  pendingBytes: number;
  /** Dirty RAM not rewritten since the previous check (cold), bytes. */
  coldPendingBytes: number;
  /** Bytes already sent in the background this epoch, bytes. */
  sentThisEpochBytes: number;
  /** When the periodic checkpoint is due, ms. */
  nextCheckpointAt: number;
  /** Learned estimates (adaptive policy). */
  estimates: Estimates;
}

/** EWMAs the adaptive policy learns from completed rounds and checkpoints. */
export interface Estimates {
  /** Achieved bandwidth, bytes per ms (0 = not yet measured). */
  bandwidth: number;
  /** Fixed cost of a checkpoint (downtime not spent moving RAM), ms. */
  fixedCost: number;
  /** Fraction of background pages dirtied again before the checkpoint, 0..1. */
  redirty: number;
}

/** A policy's decision. `cold-round` sends only pages not rewritten since the previous check. */
export type PolicyDecision = 'none' | 'round' | 'cold-round' | 'checkpoint';

const EWMA = 0.3;
/** Re-dirty ratio from which the adaptive policy sends only cold pages. */
export const COLD_FILTER_REDIRTY = 0.3;
/** Re-dirty ratio from which the adaptive policy sends no background rounds at all. */
export const BACK_OFF_REDIRTY = 0.7;

/** Folds a new sample into an EWMA (the first sample replaces the zero start). */
export function ewma(old: number, sample: number): number {
  return old === 0 ? sample : old + EWMA * (sample - old);
}

/**
 * Decides what a pending-RAM check does.
 * - `none`: never a background round (upstream COLO).
 * - `fixed`: the seed — a round whenever pending ≥ threshold.
 * - `adaptive`: threshold θ = bandwidth × (budget − fixed cost); a round only if it can finish before the
 *   next checkpoint; only cold pages when re-dirtying is moderate, none when it dominates; checkpoint
 *   early past the epoch cap.
 */
export function decide(params: ColoParams, view: PolicyView): PolicyDecision {
  switch (params.policy) {
    case 'none':
      return 'none';
    case 'fixed':
      return view.pendingBytes >= params.thresholdBytes ? 'round' : 'none';
    case 'adaptive':
      return decideAdaptive(params, view);
  }
}

function decideAdaptive(params: ColoParams, view: PolicyView): PolicyDecision {
  const { estimates: e } = view;
  if (params.epochCapBytes > 0 && view.pendingBytes + view.sentThisEpochBytes >= params.epochCapBytes) {
    return 'checkpoint';
  }
  // Until bandwidth is measured, behave like the seed.
  if (e.bandwidth === 0) return view.pendingBytes >= params.thresholdBytes ? 'round' : 'none';
  const theta = Math.max(0, e.bandwidth * (params.downtimeBudgetMs - e.fixedCost));
  if (view.pendingBytes < theta) return 'none';
  // Waste dominates: background rounds mostly resend pages that will be dirtied again. Back off.
  if (e.redirty >= BACK_OFF_REDIRTY) return 'none';
  const remaining = view.nextCheckpointAt - view.now;
  const hot = e.redirty >= COLD_FILTER_REDIRTY;
  const bytes = hot ? view.coldPendingBytes : view.pendingBytes;
  if (bytes === 0 || bytes / e.bandwidth > remaining) return 'none';
  return hot ? 'cold-round' : 'round';
}
