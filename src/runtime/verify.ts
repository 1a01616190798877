import { memoryDigest } from '../engine/memory/digest.ts';
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

/**
 * Checks a run: after every commit the secondary's committed image equals the primary's memory at that
 * checkpoint (digest taken at the stop), and a secondary that failed over holds exactly its last commit.
 * `expectRejections` lets fault-injection runs accept rejections they caused.
 */
export function verifyRun(
  result: EmbeddedResult,
  params: ColoParams,
  expectRejections = false,
): Verification {
  const problems: string[] = [];
  const atStop = new Map(result.checkpoints.map((c) => [c.epoch, c.digest]));
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
  const lastDigest =
    last?.digest ?? memoryDigest(params.seed, new Uint32Array(result.secondary.committed.length));
  if (result.final.committedDigest !== lastDigest) problems.push('committed image changed outside a commit');
  const failedOver = result.secondary.phase === 'failed-over';
  if (failedOver && params.secondaryMode === 'passive' && result.final.runningDigest !== lastDigest) {
    problems.push('after failover the passive SVM does not hold the last committed checkpoint');
  }
  if (!expectRejections) {
    for (const r of result.rejections) problems.push(`${r.node} rejected input: ${r.error.message}`);
  }
  return { consistent: problems.length === 0, checkpointsVerified: verified, problems };
}
