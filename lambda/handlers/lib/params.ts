/**
 * Engine parameters from the function environment: the stack's parameters over the engine defaults, and a
 * workload spec from the `WORKLOAD` kind name (optionally with rates: `hotcold:hotPages=4096,hotRate=4000`).
 */

import { parseWorkloadFlag } from '../../../src/cli/flags.ts';
import { workloadSchema } from '../../../src/cli/scenario.ts';
import {
  type ColoParams,
  DEFAULT_PARAMS,
  POLICY_NAMES,
  type PolicyName,
} from '../../../src/engine/params.ts';
import type { WorkloadSpec } from '../../../src/engine/workload/spec.ts';
import { type Env, loadFunctionConfig } from '../../adapters/env.ts';

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

/**
 * The engine parameters of this function: {@link DEFAULT_PARAMS} overridden by the stack parameters in the
 * environment (`VM_ID`, `SEED`, `GUEST_BYTES`, `WORKLOAD`, `POLICY`, `CHECKPOINT_DELAY_MS`,
 * `PENDING_CHECK_INTERVAL_MS`, `THRESHOLD_BYTES`, `APPLY_TIMEOUT_MS`, `HEARTBEAT_INTERVAL_MS`,
 * `HEARTBEAT_TIMEOUT_MS`).
 *
 * @throws Error naming the first missing or malformed variable.
 */
export function paramsFromEnv(env: Env = process.env): ColoParams {
  const c = loadFunctionConfig(env);
  if (!(POLICY_NAMES as readonly string[]).includes(c.policy)) {
    throw new Error(`environment variable POLICY must be one of ${POLICY_NAMES.join(', ')}, got ${c.policy}`);
  }
  if (c.guestBytes <= 0 || c.guestBytes % 4096 !== 0) {
    throw new Error(
      `environment variable GUEST_BYTES must be a positive multiple of 4096, got ${c.guestBytes}`,
    );
  }
  return {
    ...DEFAULT_PARAMS,
    vmId: c.vmId,
    seed: c.seed,
    guestBytes: c.guestBytes,
    workload: workloadFromEnv(c.workload),
    policy: c.policy as PolicyName,
    checkpointDelayMs: c.checkpointDelayMs,
    pendingCheckIntervalMs: c.pendingCheckIntervalMs,
    thresholdBytes: c.thresholdBytes,
    applyTimeoutMs: c.applyTimeoutMs,
    heartbeatIntervalMs: c.heartbeatIntervalMs,
    heartbeatTimeoutMs: c.heartbeatTimeoutMs,
  };
}
