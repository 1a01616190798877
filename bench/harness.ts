/**
 * Shared parts of the benchmarks run by `bench/run.ts`: result rows, timing helpers and the table format.
 * Every figure is printed next to a baseline measured in the same process and run, on the same bytes, so the
 * ratio stays meaningful on a loaded or slower machine where the absolute figures do not.
 */

/** One measured figure and the same-run baseline it is compared with. */
export interface BenchRow {
  /** Which benchmark module produced the row (`wire`, `fuzz-delta`, `fuzz-message`). */
  group: string;
  /** What was measured, including the input it ran on. */
  name: string;
  /** The figure, in `unit`. */
  value: number;
  /** Unit of `value` and `baselineValue`, e.g. `MiB/s`, `inputs/s`, `ms`, `MiB`. */
  unit: string;
  /** What the baseline measured (same inputs, same run). */
  baseline: string;
  /** The baseline's figure, in `unit`. */
  baselineValue: number;
}

/** What one benchmark module returns: free-text context lines (sizes, counts) and its rows. */
export interface BenchResult {
  notes: string[];
  rows: BenchRow[];
  /** A Markdown section of its own (heading included), printed after the table and written to the page. */
  section?: string;
  /** Renders charts next to the page written by `--write` (given the page's path). */
  charts?: (pagePath: string) => Promise<void>;
}

/** Sizes every benchmark module accepts; `quick` shrinks them to a smoke run of the harness. */
export interface BenchOptions {
  quick: boolean;
  /** Policy grid only: a reduced grid (one seed, 120 s simulated, 10 Gbit/s) for development runs. */
  reduced?: boolean;
  /** Policy grid only: run only these workloads (names as in the table). */
  workloads?: string[];
  /** Policy grid only: run only these links, Gbit/s. */
  links?: number[];
  /** Policy grid only: run only these policies. */
  policies?: string[];
  /** Policy grid only: run only these cells, each `workload:gbit:policy` (`*` matches any). */
  cells?: string[];
  /** Policy grid only: these seeds instead of the default ones. */
  seeds?: number[];
  /** Policy grid only: simulated seconds per run instead of the default. */
  seconds?: number;
  /**
   * Policy grid only: simulated seconds of each cell's own speed run (default one hour; 0: the speed comes
   * from the grid's runs; `--quick` and `--reduced` default to 0).
   */
  speedSeconds?: number;
  /** Policy grid only: the grid alone (no materialised-path and memory rows). */
  gridOnly?: boolean;
  /** Materialised-path row only (with `--only policies`): no grid, no memory row. */
  materialisedOnly?: boolean;
}

/** `value ÷ baselineValue`: above 1 means more of the unit than the baseline (faster for a rate, slower for ms). */
export function ratio(row: BenchRow): number {
  return row.value / row.baselineValue;
}

/**
 * Best (lowest) wall time of `repeats` calls of `run`.
 * @returns Milliseconds.
 */
export function bestOf(repeats: number, run: () => unknown): number {
  let min = Number.POSITIVE_INFINITY;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    run();
    min = Math.min(min, performance.now() - t0);
  }
  return min;
}

/** Current `process.memoryUsage().arrayBuffers` (Buffers and typed arrays, outside the V8 heap), MiB. */
export function arrayBuffersMiB(): number {
  return process.memoryUsage().arrayBuffers / 2 ** 20;
}

/** Three significant digits, without exponent notation for the magnitudes seen here. */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  if (abs >= 1000) return Math.round(n).toString();
  if (abs >= 100) return n.toFixed(0);
  if (abs >= 10) return n.toFixed(1);
  if (abs >= 1) return n.toFixed(2);
  if (abs === 0) return '0';
  // toPrecision would switch to exponent notation below 1e-6.
  return n.toFixed(Math.min(100, 2 - Math.floor(Math.log10(abs))));
}

/** Column headings of the table, in order. */
export const TABLE_HEADINGS = [
  'group',
  'benchmark',
  'figure',
  'unit',
  'baseline (same run, same inputs)',
  'baseline',
  'ratio',
] as const;

/** Columns holding numbers, right-aligned in the table. */
const NUMERIC = new Set([2, 5, 6]);

/**
 * The rows as a Markdown table whose cells are padded so it also reads as aligned plain text.
 * `ratio` is `figure ÷ baseline`.
 */
export function formatTable(rows: readonly BenchRow[]): string {
  const cells = rows.map((r) => [
    r.group,
    r.name,
    formatNumber(r.value),
    r.unit,
    r.baseline,
    formatNumber(r.baselineValue),
    formatNumber(ratio(r)),
  ]);
  const all = [[...TABLE_HEADINGS], ...cells];
  const widths = TABLE_HEADINGS.map((_, c) => Math.max(3, ...all.map((row) => (row[c] ?? '').length)));
  const line = (row: string[]) =>
    `| ${row.map((cell, c) => (NUMERIC.has(c) ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0))).join(' | ')} |`;
  const rule = `| ${widths.map((w, c) => (NUMERIC.has(c) ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line([...TABLE_HEADINGS]), rule, ...cells.map(line)].join('\n');
}
