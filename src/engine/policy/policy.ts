import type { ColoParams } from '../params.ts';

/** What a policy sees at a pending-RAM check. */
export interface PolicyView {
  /** Now, ms. */
  now: number;
  /** Dirty RAM not yet sent, bytes. */
  pendingBytes: number;
  /** Bytes already sent in the background this epoch, bytes. */
  sentThisEpochBytes: number;
  /** When the periodic checkpoint is due, ms. */
  nextCheckpointAt: number;
  /** Learned estimates (adaptive policy). */
  estimates: Estimates;
}

/** EWMAs learned from completed rounds and checkpoints (the adaptive policy uses `bandwidth`). */
export interface Estimates {
  /** Achieved bandwidth of background rounds and checkpoint RAM, bytes per ms (0 = not yet measured). */
  bandwidth: number;
  /** Fixed cost of a checkpoint (downtime not spent moving RAM), ms. */
  fixedCost: number;
  /** Fraction of background pages dirtied again before the checkpoint, 0..1. */
  redirty: number;
}

/** A policy's decision at a pending-RAM check (`none` and `fixed`; `adaptive` plans per page, see adaptive.ts). */
export type PolicyDecision = 'none' | 'round' | 'checkpoint';

const EWMA = 0.3;

/** Folds a new sample into an EWMA (the first sample replaces the zero start). */
export function ewma(old: number, sample: number): number {
  return old === 0 ? sample : old + EWMA * (sample - old);
}

/**
 * Decides what a pending-RAM check does under `none` (never a background round: upstream COLO) and `fixed`
 * (the seed: a round of every dirty page whenever pending ≥ threshold). `adaptive` is planned page by page
 * by {@link planAdaptive} in `adaptive.ts`; here it only asks for an early checkpoint past `epochCapBytes`.
 */
export function decide(params: ColoParams, view: PolicyView): PolicyDecision {
  switch (params.policy) {
    case 'none':
      return 'none';
    case 'fixed':
      return view.pendingBytes >= params.thresholdBytes ? 'round' : 'none';
    case 'adaptive':
      return params.epochCapBytes > 0 && view.pendingBytes + view.sentThisEpochBytes >= params.epochCapBytes
        ? 'checkpoint'
        : 'none';
  }
}
