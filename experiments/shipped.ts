/**
 * The shipped experiments (experiments/*.yaml) read back from their folders: the cells, the group
 * summaries and small look-ups the page that reads them (experiments/page.ts) uses.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { label, POLICY_AXIS } from '../src/experiment/axes.ts';
import { readCellLog } from '../src/experiment/cell-log.ts';
import { readExperimentFile } from '../src/experiment/file.ts';
import { type Experiment, expandExperiment } from '../src/experiment/grid.ts';
import type { MetricName } from '../src/experiment/metrics.ts';
import { type GroupSummary, summarise, withRows } from '../src/experiment/summary.ts';

/** The shipped experiments, in the order they run and appear in docs/experiments.md. */
export const SHIPPED = [
  'threshold-sweep',
  'dirty-rate-sweep',
  'checkpoint-delay-sweep',
  'link-sweep',
  'guest-size',
  'fleet',
] as const;

/** A shipped experiment's name. */
export type ShippedName = (typeof SHIPPED)[number];

/** The file of a shipped experiment. */
export function shippedFile(name: string): string {
  return join('experiments', `${name}.yaml`);
}

/** The folder `colo experiment` writes a shipped experiment to (its default: results/<name> beside the file). */
export function shippedDir(name: string): string {
  return join('experiments', 'results', name);
}

/** A finished experiment read back. */
export interface Finished {
  /** The experiment. */
  experiment: Experiment;
  /** Its groups over seeds. */
  groups: GroupSummary[];
  /** Cells finished. */
  finished: number;
  /** Wall-clock time of its run, ms (when this process ran it). */
  wallMs?: number;
}

/** Reads a shipped experiment's folder. */
export function readFinished(name: string): Finished {
  const file = shippedFile(name);
  const experiment = expandExperiment(file, readExperimentFile(file));
  const { rows } = readCellLog(join(shippedDir(name), 'cells.jsonl'));
  const cells = withRows(experiment, rows);
  return { experiment, groups: summarise(cells), finished: cells.filter((c) => c.row).length };
}

/** The group whose axis values match `where` (labels as written in the file). */
export function groupOf(f: Finished, where: Record<string, string | number>): GroupSummary {
  const g = f.groups.find((x) => Object.entries(where).every(([k, v]) => label(x.values[k]) === String(v)));
  if (!g) throw new Error(`${f.experiment.file.name}: no group ${JSON.stringify(where)}`);
  return g;
}

/** A metric's mean in the group matching `where`. */
export function mean(f: Finished, where: Record<string, string | number>, metric: MetricName): number {
  return groupOf(f, where).metrics[metric].mean;
}

/** The values of an axis as the file lists them (labels). */
export function axisValues(f: Finished, axis: string): string[] {
  if (axis === POLICY_AXIS) return [...new Set(f.experiment.cells.map((c) => c.policy))];
  return (f.experiment.file.grid?.[axis] ?? []).map(label);
}

/** Where the wall-clock time of an experiment's last run from scratch is kept (the page shows it). */
export function runFile(name: string): string {
  return join(shippedDir(name), 'run.json');
}

/** Reads a shipped experiment's folder with the wall-clock time of its last run from scratch, if recorded. */
export function readFinishedWithTime(name: string): Finished {
  const f = readFinished(name);
  if (existsSync(runFile(name)))
    f.wallMs = (JSON.parse(readFileSync(runFile(name), 'utf8')) as { wallMs: number }).wallMs;
  return f;
}
