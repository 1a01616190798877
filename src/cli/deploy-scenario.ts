/**
 * A scenario file as CDK context: `npm run deploy:local -- --scenario FILE` deploys what
 * `colo run --scenario FILE` runs. The file is resolved exactly as `colo run` resolves it (registry
 * defaults for every key it leaves out), then every deployed parameter is written as its context key
 * (src/parameters/deployed.ts) and validated with the stack's own bounds before anything is deployed.
 */
import { contextOfScenario, DEPLOY_PROFILE, ParameterError, readDeployed } from '../parameters/deployed.ts';
import { SCENARIO_PARAMETERS } from '../parameters/registry.ts';
import { fileLayer, resolveScenario, ScenarioError } from './scenario.ts';
import { readScenarioFile } from './scenario-file.ts';

/** The context of a deployed scenario, and what it could not deploy. */
export interface ScenarioContext {
  /** Context values by key, as `-c key=value` takes them. */
  context: Record<string, string | number>;
  /** One line per simulation-only key the file sets (deployed without it). */
  warnings: string[];
  /** The VM id the file itself names (`vmId`), if it names one (the context's is defaulted). */
  fileVmId?: string;
  /**
   * The context keys of the parameters the file itself names (`policy` when it names `policies` or one was
   * given); every other key of `context` is a default. `colo vm set --scenario` changes only these.
   */
  named: string[];
}

/**
 * The CDK context of the scenario file at `path`.
 *
 * @param policy - The policy given with `-c policy=…`, which wins over the file's `policies`.
 * @throws ScenarioError (one line per problem) for a file `colo run` would refuse, or one naming several
 *   policies with no `policy` given.
 */
export function scenarioContext(path: string, policy?: string): ScenarioContext {
  const content = readScenarioFile(path);
  const scenario = resolveScenario(fileLayer(path, content));
  const keys = Object.keys(content as Record<string, unknown>);
  // A file that names no policy deploys the deploy profile's; -c policy=… overrides either.
  const policies =
    policy !== undefined ? [policy] : keys.includes('policies') ? scenario.policies : ['fixed'];
  let context: Record<string, string | number>;
  try {
    context = contextOfScenario(scenario.params, policies);
    // The stack's own bounds, checked now rather than at synthesis.
    const merged: Record<string, unknown> = { ...DEPLOY_PROFILE, ...context };
    readDeployed((p) => merged[p.deployed.context], 'context');
  } catch (e) {
    if (e instanceof ParameterError) throw new ScenarioError(`scenario file ${path}: ${e.message}`);
    throw e;
  }
  const warnings = SCENARIO_PARAMETERS.filter(
    (p) => p.simulationOnly !== undefined && p.name !== 'name' && keys.includes(p.scenario as string),
  ).map((p) => `scenario file ${path}: "${p.scenario}" is not deployed: ${p.simulationOnly}`);
  const named = (content as Record<string, unknown>).vmId;
  const namedKeys = SCENARIO_PARAMETERS.filter(
    (p) => p.deployed !== undefined && keys.includes(p.scenario as string),
  ).map((p) => p.deployed?.context as string);
  if (policy !== undefined && !namedKeys.includes('policy')) namedKeys.push('policy');
  return {
    context,
    warnings,
    named: namedKeys,
    ...(typeof named === 'string' ? { fileVmId: named } : {}),
  };
}
