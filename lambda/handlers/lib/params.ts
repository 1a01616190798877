/**
 * Engine parameters from the function environment: the stack's parameters over the engine defaults, and a
 * workload spec from the `WORKLOAD` kind name (optionally with rates: `hotcold:hotPages=4096,hotRate=4000`).
 */

import {
  type ColoParams,
  DEFAULT_PARAMS,
  POLICY_NAMES,
  type PolicyName,
} from '../../../src/engine/params.ts';
import { type Env, loadFunctionConfig } from '../../adapters/env.ts';
import { workloadFromEnv } from './workload.ts';

export { DEFAULT_WORKLOADS, workloadFromEnv } from './workload.ts';

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
