/** Runs one cell of an experiment on the embedded runtime and turns its report into a row of cells.jsonl. */
import type { OutcomeState, Verdict } from '../cli/outcome.ts';
import { runPolicy } from '../cli/run-command.ts';
import type { Scenario } from '../cli/scenario.ts';
import type { PolicyName } from '../engine/params.ts';
import { type MetricName, metricsOf } from './metrics.ts';

/** What a cell needs to run (structured-clonable: it crosses to a worker thread). */
export interface CellJob {
  /** The cell's key. */
  key: string;
  /** The resolved scenario. */
  scenario: Scenario;
  /** The policy. */
  policy: PolicyName;
}

/** A finished cell: one line of cells.jsonl. */
export interface CellRow {
  /** The cell's key (hash of its resolved configuration). */
  key: string;
  /** The experiment's name. */
  experiment: string;
  /** Axis values as the file wrote them when the cell ran (the current file's labels are used for output). */
  values: Record<string, unknown>;
  /** Policy. */
  policy: PolicyName;
  /** Seed. */
  seed: number;
  /** How the run ended. */
  verdict: Verdict;
  /** Where replication stood at the end. */
  outcome: OutcomeState;
  /** The cell's figures. */
  metrics: Record<MetricName, number>;
  /** Simulated time, ms. */
  simulatedMs: number;
  /** Wall-clock time of the run, ms. */
  wallMs: number;
}

/** The figures of a cell's run (everything of a {@link CellRow} but its labels). */
export type CellResult = Pick<CellRow, 'verdict' | 'outcome' | 'metrics' | 'simulatedMs' | 'wallMs'>;

/** Runs a cell; `progress` gets the fraction of its simulated time done (0..1). */
export function runCell(job: CellJob, progress?: (fraction: number) => void): CellResult {
  const report = runPolicy(job.scenario, job.policy, progress ? { progress: (_p, f) => progress(f) } : {});
  return {
    verdict: report.verdict ?? 'diverged',
    outcome: report.outcome?.state ?? 'replicating',
    metrics: metricsOf(report, job.scenario.durationMs),
    simulatedMs: job.scenario.durationMs,
    wallMs: report.wallMs,
  };
}
