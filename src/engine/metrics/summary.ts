import type { CheckpointRecord, RoundRecord, RoundTotals } from './records.ts';

/** Nearest-rank percentile of `values` (0 for an empty list); `p` in 0..100. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] ?? 0;
}

/** Figures for one run of one policy. Sizes in MiB, times in ms. */
export interface RunSummary {
  /** Completed checkpoints. */
  checkpoints: number;
  /** Checkpoints by trigger. */
  triggers: Record<string, number>;
  /** Downtime (PVM stop → resume), ms. */
  downtimeMs: { p50: number; p99: number; max: number; mean: number; total: number };
  /** RAM + device state sent while stopped, MiB. */
  checkpointMiB: number;
  /** Sent in background rounds, MiB. */
  backgroundMiB: number;
  /**
   * Background copies dirtied again before their checkpoint, MiB — modelled wire bytes, counted like
   * `checkpointMiB` and `backgroundMiB` (a zero page costs its 16-byte header, not 4 KiB).
   */
  wastedMiB: number;
  /** Background rounds (successful sends). */
  rounds: number;
  /** Pages re-sent at checkpoints because a round did not reach the cache, pages. */
  resentPages: number;
}

/** Round totals of nothing yet: every count 0. */
export function emptyRoundTotals(): RoundTotals {
  return { count: 0, ok: 0, okBytes: 0, pages: 0 };
}

/** Adds round `r` to `totals` (in place): call it in record order and the sums are those of the records. */
export function addRound(totals: RoundTotals, r: RoundRecord): void {
  totals.count++;
  totals.pages += r.pages;
  if (r.ok) {
    totals.ok++;
    totals.okBytes += r.bytes;
  }
}

/** The totals of `rounds`, added in order. */
export function roundTotalsOf(rounds: readonly RoundRecord[]): RoundTotals {
  const totals = emptyRoundTotals();
  for (const r of rounds) addRound(totals, r);
  return totals;
}

/**
 * Summarises a run's checkpoint records and its rounds: their records, or the running totals a run keeps
 * of them (the same figures: {@link addRound} sums in record order, as the records would be summed).
 */
export function summarise(
  checkpoints: readonly CheckpointRecord[],
  rounds: readonly RoundRecord[] | RoundTotals,
): RunSummary {
  const totals = isRoundTotals(rounds) ? rounds : roundTotalsOf(rounds);
  const downtimes = checkpoints.map((c) => c.downtimeMs);
  const total = downtimes.reduce((a, b) => a + b, 0);
  const triggers: Record<string, number> = {};
  for (const c of checkpoints) triggers[c.trigger] = (triggers[c.trigger] ?? 0) + 1;
  const MiB = 1024 * 1024;
  return {
    checkpoints: checkpoints.length,
    triggers,
    downtimeMs: {
      p50: percentile(downtimes, 50),
      p99: percentile(downtimes, 99),
      max: downtimes.length ? Math.max(...downtimes) : 0,
      mean: downtimes.length ? total / downtimes.length : 0,
      total,
    },
    checkpointMiB: checkpoints.reduce((a, c) => a + c.bytes, 0) / MiB,
    backgroundMiB: totals.okBytes / MiB,
    wastedMiB: checkpoints.reduce((a, c) => a + c.wastedBytes, 0) / MiB,
    rounds: totals.ok,
    resentPages: checkpoints.reduce((a, c) => a + c.resentPages, 0),
  };
}

/** A list of round records is an array; totals are not. */
function isRoundTotals(x: readonly RoundRecord[] | RoundTotals): x is RoundTotals {
  return !Array.isArray(x);
}
