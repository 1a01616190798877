import type { ColoErrorCode } from '../engine/errors.ts';
import { zeroImageDigest } from '../engine/memory/digest.ts';
import type { ColoParams } from '../engine/params.ts';
import type { EmbeddedResult } from './embedded/run.ts';

/** Outcome of checking a run's replicas. */
export interface Verification {
  /** True when every commit matched the PVM at its checkpoint and nothing was rejected unexpectedly. */
  consistent: boolean;
  /** Commits whose committed image was compared with the PVM image at that checkpoint. */
  checkpointsVerified: number;
  /** What went wrong, one line each. */
  problems: string[];
}

/** How to judge a run. */
export interface VerifyOptions {
  /** Accept every rejected input: a fault-injection run causes them (duplicates, late copies). */
  expectRejections?: boolean;
  /**
   * PVM digests at the stop of every checkpoint transaction, by epoch, including transactions that never
   * completed on the primary (recorded by an `observe` hook): a secondary may commit an epoch whose
   * `vmstate-loaded` the primary never saw before it gave up.
   */
  stopDigests?: ReadonlyMap<number, string>;
}

/** Rejections that say replication is ending (a late answer, input to a node that stopped), not a bug. */
const ENDING_CODES: readonly ColoErrorCode[] = ['exited', 'timeout'];

/**
 * Checks a run: after every commit the secondary's committed image equals the primary's memory at that
 * checkpoint (digest taken at the stop), and a secondary that failed over holds exactly its last commit.
 * A run that ended in a fenced failover verifies when its committed image is consistent: the end of
 * replication is reported as the run's outcome, not as a divergence. Rejected inputs are problems unless
 * `expectRejections` (fault-injection runs), or they only say that replication was ending (`exited`,
 * `timeout`), or they came after the fence was decided.
 */
export function verifyRun(
  result: EmbeddedResult,
  params: ColoParams,
  options: boolean | VerifyOptions = {},
): Verification {
  const opts: VerifyOptions = typeof options === 'boolean' ? { expectRejections: options } : options;
  const problems: string[] = [];
  const atStop = new Map(opts.stopDigests ?? []);
  for (const c of result.checkpoints) atStop.set(c.epoch, c.digest);
  if (result.primary.txn?.digest) atStop.set(result.primary.epoch, result.primary.txn.digest);
  let verified = 0;
  for (const c of result.commits) {
    const want = atStop.get(c.epoch);
    if (want === undefined) problems.push(`epoch ${c.epoch} committed with no checkpoint on the primary`);
    else if (want !== c.digest)
      problems.push(`epoch ${c.epoch}: committed image ${c.digest} ≠ PVM at stop ${want}`);
    else verified++;
  }
  const last = result.commits[result.commits.length - 1];
  const lastDigest = last?.digest ?? zeroImageDigest(params.seed, result.secondary.committed.length);
  if (result.final.committedDigest !== lastDigest) problems.push('committed image changed outside a commit');
  const failedOver = result.secondary.phase === 'failed-over';
  if (failedOver && params.secondaryMode === 'passive' && result.final.runningDigest !== lastDigest) {
    problems.push('after failover the passive SVM does not hold the last committed checkpoint');
  }
  if (result.primary.phase === 'exited' && result.secondary.phase === 'failed-over') {
    problems.push('both sides active: the primary runs alone and the secondary took over');
  }
  if (!opts.expectRejections) {
    const fencedAt = result.fence?.at ?? Number.POSITIVE_INFINITY;
    for (const r of result.rejections) {
      if (ENDING_CODES.includes(r.error.code) || r.at >= fencedAt) continue;
      problems.push(`${r.node} rejected input: ${r.error.message}`);
    }
  }
  return { consistent: problems.length === 0, checkpointsVerified: verified, problems };
}
