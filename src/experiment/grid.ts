/**
 * An experiment file expanded into cells: every combination of the grid's axis values × seeds, each
 * resolved into a scenario (src/cli/scenario.ts) and keyed by a hash of that resolved configuration —
 * the key that makes a rerun skip the cells it already has.
 */

import { createHash } from 'node:crypto';
import {
  type LayerOrigin,
  resolveScenario,
  type Scenario,
  ScenarioError,
  withOrigin,
} from '../cli/scenario.ts';
import { POLICY_NAMES, type PolicyName } from '../engine/params.ts';
import { UnitError } from '../parameters/units.ts';
import { WorkloadError } from '../parameters/workload.ts';
import { escapeControls } from '../runtime/cloud/text.ts';
import { axisProblem, cellLayer, defaultPolicies, label, POLICY_AXIS } from './axes.ts';
import { ExperimentError, type ExperimentFile, MAX_CELLS } from './file.ts';
import { DEFAULT_CHART_METRICS, type MetricName } from './metrics.ts';

/** Version of what a cell computes; bump it when a cell's figures change meaning (old keys then rerun). */
export const CELL_FORMAT = 1;

/** One cell: one scenario, one policy, one seed. */
export interface Cell {
  /** Hash of the resolved configuration (hex, 16 characters). */
  key: string;
  /** Position in the grid (axis values vary last-axis-fastest, then policy, then seed). */
  index: number;
  /** The cell's value of every axis (as written in the file), `policy` included. */
  values: Record<string, unknown>;
  /** The policy. */
  policy: PolicyName;
  /** The seed. */
  seed: number;
  /** The cells that differ only in their seed share this label (`threshold=8MiB policy=fixed`). */
  group: string;
  /** The resolved scenario (its `policies` is this cell's one policy). */
  scenario: Scenario;
}

/** An experiment ready to run. */
export interface Experiment {
  /** The file it came from. */
  path: string;
  /** The file, validated. */
  file: ExperimentFile;
  /** The grid's axes in file order, `policy` last unless the file places it. */
  axes: string[];
  /** Seeds, in order. */
  seeds: number[];
  /** Every cell. */
  cells: Cell[];
  /** What the charts show. */
  chart: { x: string; log: boolean; metrics: MetricName[] };
}

/** A canonical JSON text (object keys sorted), so equal configurations hash equal. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The key of a resolved cell: what it runs, not how the file wrote it. */
export function cellKey(scenario: Scenario, policy: PolicyName): string {
  const config = {
    format: CELL_FORMAT,
    params: { ...scenario.params, policy },
    link: scenario.link,
    durationMs: scenario.durationMs,
    faults: scenario.faults ?? null,
    // Absent for one VM, so a single VM's key is what it was before fleets existed.
    fleet: scenario.fleet,
  };
  return createHash('sha256').update(canonicalJson(config)).digest('hex').slice(0, 16);
}

/** Every combination of the axes' values, the last axis varying fastest. */
function combinations(
  grid: Readonly<Record<string, readonly unknown[]>>,
  axes: readonly string[],
): Record<string, unknown>[] {
  let out: Record<string, unknown>[] = [{}];
  for (const axis of axes) {
    const values = grid[axis] ?? [];
    out = out.flatMap((c) => values.map((v) => ({ ...c, [axis]: v })));
  }
  return out;
}

/** A seed listed twice in `seeds: [..]`, as a one-line problem. */
function duplicateSeed(seeds: ExperimentFile['seeds']): string | undefined {
  if (!Array.isArray(seeds)) return undefined;
  const i = seeds.findIndex((s, j) => seeds.indexOf(s) !== j);
  return i < 0
    ? undefined
    : `seeds: ${seeds[i]} appears twice (seeds[${seeds.indexOf(seeds[i] as number)}] and seeds[${i}])`;
}

/** The first two cells that share a key (they would run the same thing and collide in cells.jsonl). */
function sameKey(cells: readonly Cell[]): [Cell, Cell] | undefined {
  const byKey = new Map<string, Cell>();
  for (const c of cells) {
    const other = byKey.get(c.key);
    if (other) return [other, c];
    byKey.set(c.key, c);
  }
  return undefined;
}

/** Resolves a layer pair, turning errors of the scenario, units and workloads into `ExperimentError` lines. */
function resolve(
  base: Record<string, unknown>,
  layer: () => Record<string, unknown>,
  baseOrigin: LayerOrigin,
  axisOrigin: LayerOrigin,
): Scenario {
  try {
    return resolveScenario(withOrigin({ ...base }, baseOrigin), withOrigin(layer(), axisOrigin));
  } catch (e) {
    if (e instanceof ScenarioError) throw new ExperimentError(e.message);
    if (e instanceof WorkloadError || e instanceof UnitError)
      throw new ExperimentError(`${axisOrigin.source}: ${e.message}`);
    throw e;
  }
}

/**
 * Expands and validates an experiment: axis names, each axis value on its own over the base, then every
 * cell (a combination can be invalid where each value is not, e.g. a heartbeat timeout under the interval).
 *
 * @throws ExperimentError with one line per problem (at most 10 cells' problems).
 */
export function expandExperiment(path: string, file: ExperimentFile): Experiment {
  const at = `experiment file ${path}`;
  const base = { ...(file.base ?? {}) };
  const grid = file.grid ?? {};
  const problems = Object.keys(grid).flatMap((a) => {
    const p = axisProblem(a);
    return p ? [`${at}: grid: ${p}`] : [];
  });
  if ('name' in base) problems.push(`${at}: base.name: the experiment's name is its name: remove base.name`);
  if ('seed' in base) problems.push(`${at}: base.seed: seeds are set by seeds: N or seeds: [..] beside grid`);
  const policyValues = grid[POLICY_AXIS];
  if (policyValues) {
    policyValues.forEach((p, i) => {
      if (!(POLICY_NAMES as readonly unknown[]).includes(p))
        problems.push(
          `${at}: grid.policy[${i}]: "${label(p)}" is not a policy: use ${POLICY_NAMES.join(', ')}`,
        );
      else if (policyValues.indexOf(p) !== i)
        problems.push(
          `${at}: grid.policy[${i}]: ${label(p)} is the same value as grid.policy[${policyValues.indexOf(p)}]: remove one`,
        );
    });
  }
  if (problems.length) throw new ExperimentError(problems.map(escapeControls).join('\n'));

  const policies = policyValues ? (policyValues as PolicyName[]) : defaultPolicies(base);
  delete base.policies;
  const seeds =
    file.seeds === undefined
      ? [42]
      : typeof file.seeds === 'number'
        ? Array.from({ length: file.seeds }, (_, i) => i + 1)
        : file.seeds;
  const axes = Object.keys(grid);
  const seedProblem = duplicateSeed(file.seeds);
  if (seedProblem) throw new ExperimentError(`${at}: ${seedProblem}`);
  const valueAxes = axes.filter((a) => a !== POLICY_AXIS);
  // Counted before anything is built: a grid of millions of combinations is refused at once.
  const total = valueAxes.reduce((n, a) => n * (grid[a]?.length ?? 1), policies.length * seeds.length);
  if (total > MAX_CELLS)
    throw new ExperimentError(
      `${at}: the grid has ${total} cells (at most ${MAX_CELLS}): fewer values or seeds`,
    );
  const baseOrigin: LayerOrigin = { source: `${at}: base`, key: (k) => `${at}: base.${k}` };

  // Each axis value on its own, so that an error names the value.
  const valueProblems: string[] = [];
  for (const axis of axes.filter((a) => a !== POLICY_AXIS)) {
    // Resolved values seen on this axis (canonical JSON of the scenario), to name a repeated one.
    const seen = new Map<string, number>();
    (grid[axis] ?? []).forEach((v, i) => {
      const where = `${at}: grid.${axis}[${i}]`;
      try {
        const scenario = resolve(
          base,
          () => cellLayer(base, { [axis]: v }, policies[0] ?? 'none', seeds[0] ?? 42),
          baseOrigin,
          {
            source: where,
            key: (k) => (k === axis || axis.startsWith(`${k}.`) ? where : `${where} (${k})`),
          },
        );
        const same = seen.get(canonicalJson(scenario));
        if (same !== undefined)
          valueProblems.push(
            `${where}: ${label(v)} is the same value as grid.${axis}[${same}] (${label(grid[axis]?.[same])}): remove one`,
          );
        else seen.set(canonicalJson(scenario), i);
      } catch (e) {
        if (!(e instanceof ExperimentError)) throw e;
        valueProblems.push(...e.message.split('\n'));
      }
    });
  }
  if (valueProblems.length)
    throw new ExperimentError([...new Set(valueProblems)].map(escapeControls).join('\n'));

  const combos = combinations(grid, valueAxes);

  const cells: Cell[] = [];
  const cellProblems: string[] = [];
  for (const seed of seeds) {
    for (const combo of combos) {
      for (const policy of policies) {
        const values: Record<string, unknown> = { ...combo, [POLICY_AXIS]: policy };
        const group = axes
          .map((a) => `${a}=${label(values[a] ?? policy)}`)
          .concat(policyValues ? [] : [`policy=${policy}`])
          .join(' ');
        const where = `${at}: cell ${group} seed=${seed}`;
        try {
          const scenario = resolve(base, () => cellLayer(base, combo, policy, seed), baseOrigin, {
            source: where,
            key: (k) => `${where}: ${k}`,
          });
          scenario.name = `${file.name} ${group} seed=${seed}`;
          cells.push({
            key: cellKey(scenario, policy),
            index: cells.length,
            values,
            policy,
            seed,
            group,
            scenario,
          });
        } catch (e) {
          if (!(e instanceof ExperimentError)) throw e;
          if (cellProblems.length < 10) cellProblems.push(...e.message.split('\n'));
        }
      }
    }
  }
  if (cellProblems.length)
    throw new ExperimentError([...new Set(cellProblems)].map(escapeControls).join('\n'));
  const twin = sameKey(cells);
  if (twin)
    throw new ExperimentError(
      `${at}: cells ${twin[0].group} seed=${twin[0].seed} and ${twin[1].group} seed=${twin[1].seed} run the same configuration: remove one of the values`,
    );

  const x = file.chart?.x ?? valueAxes[0] ?? POLICY_AXIS;
  if (x !== POLICY_AXIS && !axes.includes(x))
    throw new ExperimentError(
      `${at}: chart.x: "${x}" is not an axis of the grid: use one of ${[...axes, POLICY_AXIS].join(', ')}`,
    );
  return {
    path,
    file,
    axes: policyValues ? axes : [...axes, POLICY_AXIS],
    seeds,
    cells,
    chart: { x, log: file.chart?.log ?? false, metrics: file.chart?.metrics ?? [...DEFAULT_CHART_METRICS] },
  };
}
