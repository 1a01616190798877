/**
 * The `WORKLOAD` value every function receives: a kind name, optionally with rates
 * (`hotcold:hotPages=4096,hotRate=4000`). Pure (no AWS SDK), so the CDK app validates the stack's
 * `workload` context with the same parser the handlers use.
 */
import { parseWorkloadFlag } from '../../../src/cli/flags.ts';
import { workloadSchema } from '../../../src/cli/scenario.ts';
import { DEFAULT_PARAMS } from '../../../src/engine/params.ts';
import type { WorkloadSpec } from '../../../src/engine/workload/spec.ts';

/** Rates used when `WORKLOAD` names only a kind (pages/s of guest time; hot sets in pages). */
export const DEFAULT_WORKLOADS: Readonly<Record<WorkloadSpec['kind'], WorkloadSpec>> = {
  idle: { kind: 'idle' },
  uniform: { kind: 'uniform', rate: 2000 },
  hotcold: DEFAULT_PARAMS.workload,
  zipf: { kind: 'zipf', rate: 4000, exponent: 1 },
  sequential: { kind: 'sequential', rate: 4000 },
  'buffered-io': { kind: 'buffered-io', rate: 8000, hotPages: 2048, tail: 0.05 },
};

/**
 * Parses `WORKLOAD`: a kind name (`hotcold`) takes {@link DEFAULT_WORKLOADS}; `kind:key=value,…` overrides
 * fields of that default.
 *
 * @throws Error naming the variable and what is wrong.
 */
export function workloadFromEnv(text: string): WorkloadSpec {
  try {
    const given = parseWorkloadFlag('WORKLOAD', text.trim());
    const base = DEFAULT_WORKLOADS[given.kind as WorkloadSpec['kind']];
    if (!base) throw new Error(`unknown workload kind ${String(given.kind)}`);
    return workloadSchema.parse({ ...base, ...given }) as WorkloadSpec;
  } catch (e) {
    throw new Error(
      `environment variable WORKLOAD="${text}" is invalid: ${e instanceof Error ? e.message : e}`,
    );
  }
}
