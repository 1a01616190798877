/**
 * Engine parameters from the function environment: the stack's parameters over the engine defaults, and a
 * workload spec from the `WORKLOAD` kind name (optionally with rates: `hotcold:hotPages=4096,hotRate=4000`).
 */

import { type ColoParams, DEFAULT_PARAMS } from '../../../src/engine/params.ts';
import { coloParamsOf } from '../../../src/parameters/deployed.ts';
import { type Env, loadFunctionConfig } from '../../adapters/env.ts';

export { DEFAULT_WORKLOADS, workloadFromEnv } from './workload.ts';

/**
 * The engine parameters of this function: every deployed parameter of the registry from the environment
 * (`VM_ID`, `SEED`, `GUEST_BYTES`, `WORKLOAD`, `POLICY`, `CHECKPOINT_DELAY_MS`, … — docs/parameters.md),
 * over {@link DEFAULT_PARAMS} for the engine's costs and the simulation-only parameters (whose registry
 * defaults equal the engine's), with object caps from the function's memory.
 *
 * @throws ParameterError naming the first missing or malformed variable.
 */
export function paramsFromEnv(env: Env = process.env): ColoParams {
  return { ...coloParamsOf(loadFunctionConfig(env), DEFAULT_PARAMS), ...objectCapsFromEnv(env) };
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
