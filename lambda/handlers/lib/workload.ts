/**
 * The `WORKLOAD` value every function receives: a kind name, optionally with rates
 * (`hotcold:hotPages=4096,hotRate=4000`). Pure (no AWS SDK), so the CDK app validates the stack's
 * `workload` context with the same parser the handlers use — and `colo run --workload` uses it too
 * (src/cli/workload.ts: kinds, keys, units and defaults in one table).
 */
import { parseWorkloadText, workloadSchema } from '../../../src/cli/workload.ts';
import type { WorkloadSpec } from '../../../src/engine/workload/spec.ts';

export { DEFAULT_WORKLOADS } from '../../../src/cli/workload.ts';

/**
 * Parses `WORKLOAD`: a kind name (`hotcold`) takes {@link DEFAULT_WORKLOADS}; `kind:key=value,…` overrides
 * fields of that default.
 *
 * @throws Error naming the variable and what is wrong.
 */
export function workloadFromEnv(text: string): WorkloadSpec {
  try {
    const parsed = workloadSchema.safeParse(parseWorkloadText(text));
    if (!parsed.success) {
      throw new Error(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    }
    return parsed.data as WorkloadSpec;
  } catch (e) {
    throw new Error(
      `environment variable WORKLOAD="${text}" is invalid: ${e instanceof Error ? e.message : e}`,
    );
  }
}
