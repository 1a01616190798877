/** Groups an experiment's finished cells by everything but the seed and estimates each metric over seeds. */
import type { Verdict } from '../cli/outcome.ts';
import type { CellRow } from './cell-run.ts';
import type { Cell, Experiment } from './grid.ts';
import { METRIC_NAMES, type MetricName } from './metrics.ts';
import { type Estimate, estimate } from './stats.ts';

/** The cells that differ only in their seed, summarised. */
export interface GroupSummary {
  /** Label (`threshold=8MiB policy=fixed`). */
  group: string;
  /** The group's axis values (as written), `policy` included. */
  values: Record<string, unknown>;
  /** Cells of the group in the grid. */
  cells: number;
  /** Of which finished. */
  finished: number;
  /** Verdicts of the finished cells. */
  verdicts: Partial<Record<Verdict, number>>;
  /** Each metric over the finished cells' seeds. */
  metrics: Record<MetricName, Estimate>;
}

/** A grid cell with its row, if it has finished. */
export interface CellWithRow {
  /** The cell. */
  cell: Cell;
  /** Its row (absent if it has not finished). */
  row?: CellRow;
}

/** Pairs the experiment's cells with the finished rows (by key). */
export function withRows(experiment: Experiment, rows: ReadonlyMap<string, CellRow>): CellWithRow[] {
  return experiment.cells.map((cell) => {
    const row = rows.get(cell.key);
    return row ? { cell, row } : { cell };
  });
}

/** Summarises the cells by group, in grid order. */
export function summarise(cells: readonly CellWithRow[]): GroupSummary[] {
  const groups = new Map<string, CellWithRow[]>();
  for (const c of cells) {
    const list = groups.get(c.cell.group) ?? [];
    list.push(c);
    groups.set(c.cell.group, list);
  }
  return [...groups.entries()].map(([group, list]) => {
    const rows = list.flatMap((c) => (c.row ? [c.row] : []));
    const verdicts: Partial<Record<Verdict, number>> = {};
    for (const r of rows) verdicts[r.verdict] = (verdicts[r.verdict] ?? 0) + 1;
    const metrics = Object.fromEntries(
      METRIC_NAMES.map((m) => [
        m,
        // A metric a run does not have (null in cells.jsonl, or absent from rows written before it existed).
        estimate(
          rows.map((r) => r.metrics[m]).filter((v): v is number => typeof v === 'number' && !Number.isNaN(v)),
        ),
      ]),
    ) as Record<MetricName, Estimate>;
    return {
      group,
      values: list[0]?.cell.values ?? {},
      cells: list.length,
      finished: rows.length,
      verdicts,
      metrics,
    };
  });
}
