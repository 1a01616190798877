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
    ...objectCapsFromEnv(env),
  };
}

/**
 * Share of the function's memory one delta object may take: the secondary holds the object, its decoded
 * pages (views into it, or one exact 4 KiB page each when deflated), its state (8 bytes a guest page) and
 * the runtime; a quarter leaves room for all of that.
 */
export const OBJECT_MEMORY_FRACTION = 0.25;

/**
 * Object size caps derived from the function's memory (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, MB, set by
 * Lambda): `maxObjectBytes` = memory × {@link OBJECT_MEMORY_FRACTION} (never above the engine default,
 * 1 GiB), so an object the secondary accepts always fits the function; and `maxDeltaBytes` (what the
 * primary puts in one object) at most 90 % of that, whole pages, so a chunk the primary builds always
 * passes the cap (the page records and header add 0.2 %). Without the variable (tests, local runs): the
 * engine defaults.
 *
 * @throws Error when the variable is set but not a positive integer.
 */
export function objectCapsFromEnv(
  env: Env = process.env,
): Pick<ColoParams, 'maxObjectBytes' | 'maxDeltaBytes'> {
  const raw = env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE;
  const defaults = {
    maxObjectBytes: DEFAULT_PARAMS.maxObjectBytes,
    maxDeltaBytes: DEFAULT_PARAMS.maxDeltaBytes,
  };
  if (raw === undefined || raw === '') return defaults;
  const mb = Number(raw);
  if (!Number.isSafeInteger(mb) || mb <= 0) {
    throw new Error(
      `environment variable AWS_LAMBDA_FUNCTION_MEMORY_SIZE must be a positive integer (MB), got ${raw}`,
    );
  }
  const maxObjectBytes = Math.min(
    defaults.maxObjectBytes,
    Math.floor(mb * 1024 * 1024 * OBJECT_MEMORY_FRACTION),
  );
  const pages = Math.max(1, Math.floor((maxObjectBytes * 0.9) / 4096));
  return { maxObjectBytes, maxDeltaBytes: Math.min(defaults.maxDeltaBytes, pages * 4096) };
}
