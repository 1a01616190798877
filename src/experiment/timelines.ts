/**
 * The run timelines an experiment's report shows: one cell per policy (the first seed, at the axis values
 * `chart.timeline` picks — by default the first value of every axis), run again with its timeline recorded.
 */
import { runPolicyRecorded } from '../cli/run-command.ts';
import type { Timeline } from '../report/timeline.ts';
import { label, POLICY_AXIS } from './axes.ts';
import { ExperimentError } from './file.ts';
import type { Cell, Experiment } from './grid.ts';

/** The cells whose timelines the report shows (none when `chart.timeline` is false). */
export function timelineCells(experiment: Experiment): Cell[] {
  const pick = experiment.file.chart?.timeline;
  if (pick === false) return [];
  const grid = experiment.file.grid ?? {};
  const seed = experiment.seeds[0];
  const want: Record<string, string> = {};
  for (const axis of experiment.axes) {
    if (axis === POLICY_AXIS) continue;
    const given = pick?.[axis];
    want[axis] = given !== undefined ? label(given) : label(grid[axis]?.[0]);
  }
  for (const axis of Object.keys(pick ?? {})) {
    if (!(axis in want))
      throw new ExperimentError(
        `experiment file ${experiment.path}: chart.timeline: "${axis}" is not an axis of the grid (policy is not needed: every policy is shown)`,
      );
  }
  const cells = experiment.cells.filter(
    (c) => c.seed === seed && Object.entries(want).every(([a, v]) => label(c.values[a]) === v),
  );
  if (cells.length === 0)
    throw new ExperimentError(
      `experiment file ${experiment.path}: chart.timeline: no cell has ${Object.entries(want)
        .map(([a, v]) => `${a}=${v}`)
        .join(' ')}`,
    );
  return cells;
}

/** Runs the cells again with their timelines recorded (in this thread). */
export function recordTimelines(cells: readonly Cell[]): Timeline[] {
  return cells.flatMap((c) => {
    const { recording } = runPolicyRecorded(c.scenario, c.policy, { record: { timeline: true } });
    return recording.timeline ? [recording.timeline] : [];
  });
}
