/**
 * Grid axes of `colo experiment`, mapped onto scenario keys — the one place that knows how an axis value
 * becomes part of a scenario (src/cli/scenario.ts) and how it is shown on a chart. The axes and their
 * quantities come from the parameter registry (src/parameters/registry.ts): a parameter with a scenario key is
 * an axis.
 *
 * An axis is:
 * - any scenario key except `name`, `seed` and `policies` (`guest`, `workload`, `checkpointDelay`,
 *   `pendingCheck`, `threshold`, `bandwidth`, `latency`, `faults`, …), its values written as in a scenario
 *   file (a JSON number in the base unit, or a string with a unit);
 * - `policy`: one policy per cell (`none`, `fixed`, `adaptive`);
 * - `workload.KEY`: one key of the workload (e.g. `workload.coldRate`), over the base's workload (or the
 *   `workload` axis' value of the same cell).
 */

import { DEFAULT_SCENARIO } from '../cli/scenario.ts';
import { POLICY_NAMES, type PolicyName } from '../engine/params.ts';
import { SCENARIO_PARAMETERS } from '../parameters/registry.ts';
import { didYouMean } from '../parameters/suggest.ts';
import { parseQuantity, type Quantity } from '../parameters/units.ts';
import { fillWorkloadObject, WORKLOAD_DOCS } from '../parameters/workload.ts';

/** Scenario keys that are not axes: the name is the experiment's, seeds and policies have their own keys. */
const NOT_AXES = new Set(['name', 'seed', 'policies']);

/** Scenario keys a grid may vary. */
export const SCENARIO_AXES: readonly string[] = SCENARIO_PARAMETERS.map((p) => p.scenario as string).filter(
  (k) => !NOT_AXES.has(k),
);

/** The axis that picks the policy of a cell. */
export const POLICY_AXIS = 'policy';

/** Every workload key any kind has (valid after `workload.`). */
const WORKLOAD_KEYS = [...new Set(Object.values(WORKLOAD_DOCS).flatMap((d) => Object.keys(d.keys)))];

/** Whether `axis` names an axis; returns a one-line reason when it does not. */
export function axisProblem(axis: string): string | undefined {
  if (axis === POLICY_AXIS || SCENARIO_AXES.includes(axis)) return undefined;
  if (axis.startsWith('workload.')) {
    const key = axis.slice('workload.'.length);
    return WORKLOAD_KEYS.includes(key)
      ? undefined
      : `"${axis}" is not a workload key${didYouMean(key, WORKLOAD_KEYS)}: use workload.${WORKLOAD_KEYS.join(', workload.')}`;
  }
  if (axis === 'policies') return '"policies" is not an axis: use policy: [none, fixed, adaptive]';
  if (axis === 'seed') return '"seed" is not an axis: use seeds: N or seeds: [1, 2, 3] beside grid';
  const all = [POLICY_AXIS, ...SCENARIO_AXES, 'workload.KEY'];
  return `unknown axis "${axis}"${didYouMean(axis, [POLICY_AXIS, ...SCENARIO_AXES])}: use one of ${all.join(', ')}`;
}

/** Axes in the order they are applied: whole values first, then `workload.KEY` over the workload. */
function applyOrder(axes: readonly string[]): string[] {
  return [...axes].sort((a, b) => Number(a.startsWith('workload.')) - Number(b.startsWith('workload.')));
}

/**
 * The scenario layer that sets one cell's axes over `base`: each axis' scenario key set to the cell's value
 * (a `workload.KEY` changes one key of the cell's workload), its one policy and its seed.
 *
 * @param base the experiment's `base` (scenario keys, as in a scenario file)
 * @param values the cell's value of every axis (`policy` is taken from `policy`, not from here)
 * @param policy the cell's policy
 * @param seed the cell's seed
 * @throws WorkloadError when a `workload.KEY` does not fit the cell's workload kind.
 */
export function cellLayer(
  base: Readonly<Record<string, unknown>>,
  values: Readonly<Record<string, unknown>>,
  policy: PolicyName,
  seed: number,
): Record<string, unknown> {
  const layer: Record<string, unknown> = {};
  for (const axis of applyOrder(Object.keys(values))) {
    const v = values[axis];
    if (axis === POLICY_AXIS) continue;
    if (axis.startsWith('workload.')) {
      const current = fillWorkloadObject(
        layer.workload ?? base.workload ?? DEFAULT_SCENARIO.workload,
      ) as Record<string, unknown>;
      layer.workload = fillWorkloadObject({ ...current, [axis.slice('workload.'.length)]: v });
    } else layer[axis] = v;
  }
  layer.policies = [policy];
  layer.seed = seed;
  return layer;
}

/** Policies of an experiment when its grid has no `policy` axis. */
export function defaultPolicies(base: Readonly<Record<string, unknown>>): PolicyName[] {
  const p = base.policies;
  if (Array.isArray(p) && p.every((x) => (POLICY_NAMES as readonly unknown[]).includes(x)))
    return p as PolicyName[];
  return [...(DEFAULT_SCENARIO.policies as PolicyName[])];
}

/** What an axis' values are on a chart: a quantity shown in a display unit, or labels. */
export interface AxisScale {
  /** Title of the axis on a chart, with its unit. */
  title: string;
  /** The value as plotted: a number in the display unit, or the label as written. */
  plot: (value: unknown) => number | string;
}

const DISPLAY: Record<Quantity, { unit: string; per: number }> = {
  size: { unit: 'MiB', per: 1024 * 1024 },
  rate: { unit: 'Gbit/s', per: 1e9 / 8 },
  duration: { unit: 's', per: 1000 },
};

/** The quantity a scenario key holds (size, rate, duration), if it holds one. */
function quantityOf(axis: string): Quantity | undefined {
  const kind = SCENARIO_PARAMETERS.find((p) => p.scenario === axis)?.kind;
  return kind === 'size' || kind === 'rate' || kind === 'duration' ? kind : undefined;
}

/** How `axis` is shown on a chart. */
export function axisScale(axis: string): AxisScale {
  const q = quantityOf(axis);
  if (q) {
    const { unit, per } = DISPLAY[q];
    return {
      title: `${axis} (${unit})`,
      plot: (v) =>
        typeof v === 'number' ? v / per : typeof v === 'string' ? parseQuantity(q, v) / per : String(v),
    };
  }
  if (axis.startsWith('workload.')) {
    const key = axis.slice('workload.'.length);
    const unit = Object.values(WORKLOAD_DOCS).find((d) => key in d.keys)?.keys[key]?.unit;
    return {
      title: unit && unit !== 'number' && unit !== 'fraction' ? `${axis} (${unit})` : axis,
      plot: (v) => (typeof v === 'number' ? v : label(v)),
    };
  }
  return { title: axis, plot: (v) => (typeof v === 'number' ? v : label(v)) };
}

/** A value as one short label (tables, CSV, legends): strings as written, objects as compact JSON. */
export function label(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'object' && value !== null && 'kind' in value) {
    const { kind, ...rest } = value as Record<string, unknown>;
    const keys = Object.entries(rest).map(([k, v]) => `${k}=${String(v)}`);
    return keys.length ? `${String(kind)}:${keys.join(',')}` : String(kind);
  }
  return JSON.stringify(value);
}
