import type { CheckpointRecord, RoundRecord } from './records.ts';

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

/** Summarises a run's checkpoint and round records. */
export function summarise(
  checkpoints: readonly CheckpointRecord[],
  rounds: readonly RoundRecord[],
): RunSummary {
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
    backgroundMiB: rounds.reduce((a, r) => a + (r.ok ? r.bytes : 0), 0) / MiB,
    wastedMiB: checkpoints.reduce((a, c) => a + c.wastedBytes, 0) / MiB,
    rounds: rounds.filter((r) => r.ok).length,
    resentPages: checkpoints.reduce((a, c) => a + c.resentPages, 0),
  };
}
