/** How a run ended, in words a user reads: still replicating, or which side won the VM, when and why. */
import type { EmbeddedResult } from '../runtime/embedded/run.ts';

/** Where replication stands at the end of a run. */
export type OutcomeState = 'replicating' | 'ending' | 'primary-alone' | 'secondary-took-over';

/** The outcome of one run (report field `outcome`). */
export interface RunOutcome {
  /**
   * `replicating`: no side gave up; `ending`: a side is claiming the VM and no answer came before the run
   * ended; `primary-alone`: the primary won the fence and runs alone (secondary fenced);
   * `secondary-took-over`: the secondary won the fence and runs from its last commit (primary fenced).
   */
  state: OutcomeState;
  /** One line for humans. */
  text: string;
  /** When replication ended (the fence was decided), ms of run time; null if it did not (or is ending). */
  at: number | null;
  /** Why, as the side that claimed the VM said it; null if replication did not end. */
  reason: string | null;
  /** Final phases of both nodes. */
  primaryPhase: string;
  secondaryPhase: string;
}

/** Labels of the outcome states (table cells). */
export const OUTCOME_LABEL: Record<OutcomeState, string> = {
  replicating: 'replicating',
  ending: 'ending (claiming)',
  'primary-alone': 'primary alone',
  'secondary-took-over': 'SVM took over',
};

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Reads the outcome off an embedded run. */
export function outcomeOf(result: EmbeddedResult): RunOutcome {
  const primaryPhase = result.primary.phase;
  const secondaryPhase = result.secondary.phase;
  const phases = { primaryPhase, secondaryPhase };
  const fence = result.fence;
  if (fence === null) {
    const claimer =
      primaryPhase === 'claiming' ? 'primary' : secondaryPhase === 'claiming' ? 'secondary' : undefined;
    if (claimer === undefined) {
      return { state: 'replicating', text: 'replicating', at: null, reason: null, ...phases };
    }
    const reason =
      (claimer === 'primary' ? result.primary.claimReason : result.secondary.claimReason) || 'unknown';
    return {
      state: 'ending',
      text: `replication ending: the ${claimer} is claiming the VM, no answer by the end of the run (${reason})`,
      at: null,
      reason,
      ...phases,
    };
  }
  const loser = fence.owner === 'primary' ? 'secondary' : 'primary';
  const loserPhase = loser === 'primary' ? primaryPhase : secondaryPhase;
  const stopped = loserPhase === 'fenced' ? `${loser} fenced` : `${loser} not yet told (${loserPhase})`;
  const what = fence.owner === 'primary' ? 'primary runs alone' : 'secondary took over';
  return {
    state: fence.owner === 'primary' ? 'primary-alone' : 'secondary-took-over',
    text: `replication ended at ${seconds(fence.at)}: ${what} (${stopped}) — ${fence.reason}`,
    at: fence.at,
    reason: fence.reason,
    ...phases,
  };
}
