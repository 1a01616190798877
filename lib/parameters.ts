/**
 * Stack parameters: read from CDK context (`cdk.json` or `-c key=value`), defaulted by the deploy profile,
 * and validated against the parameter registry (src/parameters/registry.ts) with an error that names the
 * key, the accepted range and the value given — the same reader the functions parse their environment
 * with (src/parameters/deployed.ts).
 */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import {
  DEPLOY_PROFILE,
  type DeployedValues,
  ParameterError,
  readDeployed,
} from '../src/parameters/deployed.ts';
import {
  DEPLOYED_PARAMETERS,
  LOG_RETENTION_DAYS,
  PARAMETERS,
  POLICY_VALUES,
} from '../src/parameters/registry.ts';
import { closest } from '../src/parameters/suggest.ts';

/** Background-migration policies the engine knows. */
export const POLICIES = POLICY_VALUES;

/** Values of the `testFaults` parameter: `allow` turns the functions' default-off fault hook on. */
export const TEST_FAULTS_VALUES = ['off', 'allow'] as const;

/** Every stack parameter, by context key (src/parameters/deployed.ts; docs/parameters.md lists them). */
export type ColoParameters = DeployedValues;

/** Defaults of every parameter: the deploy profile (docs/parameters.md, "Deploy profile"). */
export const DEFAULT_PARAMETERS: Readonly<ColoParameters> = DEPLOY_PROFILE;

/** Parameter names (context keys), in documentation order. */
export const PARAMETER_NAMES: readonly (keyof ColoParameters)[] = DEPLOYED_PARAMETERS.map(
  (p) => p.deployed.context as keyof ColoParameters,
);

/** CloudWatch Logs retention periods aws-cdk-lib knows, days (the registry's list must equal it). */
export const CDK_RETENTION_DAYS: readonly number[] = Object.values(RetentionDays).filter(
  (v): v is number => typeof v === 'number' && v > 0 && v !== RetentionDays.INFINITE,
);
if (CDK_RETENTION_DAYS.join() !== LOG_RETENTION_DAYS.join()) {
  throw new Error('src/parameters/registry.ts LOG_RETENTION_DAYS differs from aws-cdk-lib RetentionDays');
}

/** A context value is missing its mark: the message names the key, what is accepted and what was given. */
export class ContextValidationError extends Error {
  override readonly name = 'ContextValidationError';
}

/**
 * Validates a full set of raw values (numbers may be given as decimal strings, as `-c key=value` does).
 *
 * @throws ContextValidationError naming the first bad key.
 */
export function validateParameters(raw: Readonly<Record<keyof ColoParameters, unknown>>): ColoParameters {
  try {
    return readDeployed((p) => (raw as Record<string, unknown>)[p.deployed.context], 'context');
  } catch (e) {
    if (e instanceof ParameterError) throw new ContextValidationError(e.message);
    throw e;
  }
}

/**
 * Reads every parameter from the construct tree's context, falling back to `overrides` and then to
 * {@link DEFAULT_PARAMETERS}, and validates the result. Context wins over `overrides`, so
 * `cdk deploy -c key=value` always has the last word.
 *
 * @throws ContextValidationError naming the first bad key.
 */
export function parametersFromContext(node: Node, overrides: Partial<ColoParameters> = {}): ColoParameters {
  const raw = {} as Record<keyof ColoParameters, unknown>;
  for (const key of PARAMETER_NAMES) {
    raw[key] = node.tryGetContext(key) ?? overrides[key] ?? DEFAULT_PARAMETERS[key];
  }
  return validateParameters(raw);
}

/** Context keys of the app itself (not stack parameters): the stack's name and a stack set. */
export const APP_CONTEXT_KEYS: readonly string[] = ['stackName', 'stackSet'];

/**
 * Why `key` is not a context key, when it looks meant as one: another spelling of a parameter (its
 * scenario key, flag or environment variable: `checkpointDelay` for `checkpointDelayMs`), a
 * simulation-only parameter, or a near-miss of a context key. Undefined for anything else (CDK's own
 * keys, feature flags), which CDK may pass. CDK ignores a key no construct reads, so without this a
 * misspelt `-c checkpointDelay=5000` deployed the default and said nothing.
 */
export function misspeltContextKey(key: string): string | undefined {
  const contextKeys = [...DEPLOYED_PARAMETERS.map((p) => p.deployed.context), ...APP_CONTEXT_KEYS];
  if (contextKeys.includes(key)) return undefined;
  const named = (p: (typeof PARAMETERS)[number]) =>
    [p.name, p.scenario, p.flag, p.deployed?.env].some((n) => n !== undefined && n === key);
  const p = PARAMETERS.find(named);
  if (p?.deployed) {
    const unit = p.unit && !['', 'per second', 'share'].includes(p.unit) ? ` (${p.unit})` : '';
    return `context "${key}" is not a stack parameter: did you mean ${p.deployed.context}${unit}?`;
  }
  if (p?.simulationOnly) {
    return `context "${key}" is not a stack parameter: ${p.name} is simulation only (${p.simulationOnly})`;
  }
  // Keys of CDK itself have a colon or an @; a short word of ours is too close to guess from.
  if (/[:@]/.test(key)) return undefined;
  const near = closest(key, contextKeys);
  return near === undefined ? undefined : `context "${key}" is not a stack parameter: did you mean ${near}?`;
}

/**
 * Refuses context keys meant as stack parameters but spelt otherwise ({@link misspeltContextKey}).
 *
 * @throws ContextValidationError naming the first such key.
 */
export function checkContextKeys(keys: Iterable<string>): void {
  for (const key of keys) {
    const problem = misspeltContextKey(key);
    if (problem) throw new ContextValidationError(problem);
  }
}
