/**
 * The `WORKLOAD` value every function receives: a kind name, optionally with keys
 * (`hotcold:hotPages=4096,hotRate=4000`), read by the registry's workload parser
 * (src/parameters/workload.ts: kinds, keys, units and defaults in one table).
 */
import type { WorkloadSpec } from '../../../src/engine/workload/spec.ts';
import { parseWorkloadSpec } from '../../../src/parameters/workload.ts';

export { DEFAULT_WORKLOADS } from '../../../src/parameters/workload.ts';

/**
 * Parses `WORKLOAD`: a kind name (`hotcold`) takes {@link DEFAULT_WORKLOADS}; `kind:key=value,…` overrides
 * fields of that default.
 *
 * @throws Error naming the variable and what is wrong.
 */
export function workloadFromEnv(text: string): WorkloadSpec {
  try {
    return parseWorkloadSpec(text);
  } catch (e) {
    throw new Error(
      `environment variable WORKLOAD="${text}" is invalid: ${e instanceof Error ? e.message : e}`,
    );
  }
}
