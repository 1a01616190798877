/**
 * `colo run --backend …`: which runtime a run uses, and the flags of the `localstack` backend. The backend
 * itself is `src/runtime/localstack/backend.ts`; this module only turns flags into its options.
 */

import { parseDuration, UnitError } from '../parameters/units.ts';
import { clientsFor, endpointFromEnv } from '../runtime/localstack/aws.ts';
import { runOnLocalStack } from '../runtime/localstack/backend.ts';
import { flagsToScenario, type RunFlags } from './flags.ts';
import { verdictOf } from './outcome.ts';
import { explainReason } from './plan.ts';
import type { RunReport } from './report.ts';
import { resolveScenario, ScenarioError } from './scenario.ts';

/** Runtimes `colo run` can use. */
export const BACKENDS = ['embedded', 'localstack'] as const;

/** A runtime name. */
export type Backend = (typeof BACKENDS)[number];

/** Flags of the backend choice. */
export interface BackendFlags {
  /** `embedded` (default) or `localstack`. */
  backend?: string;
  /** LocalStack: stack name (outputs read from CloudFormation). */
  stack?: string;
  /** LocalStack: a `cdk deploy --outputs-file` file. */
  outputs?: string;
  /** LocalStack: endpoint URL (default `AWS_ENDPOINT_URL`, else 127.0.0.1 on `LOCALSTACK_PORT` or 4566). */
  endpoint?: string;
}

import { DEFAULT_LOCALSTACK_DURATION_MS, flagOfKey } from './options.ts';

export { DEFAULT_LOCALSTACK_DURATION_MS };

/** Scenario keys a LocalStack run accepts from flags: the rest come from the deployed stack. */
const LOCALSTACK_SCENARIO_KEYS = new Set(['duration', 'bandwidth', 'latency']);

/**
 * Checks the backend flags against the others.
 *
 * @throws ScenarioError for an unknown backend, LocalStack-only flags without `--backend localstack`, or
 *   scenario flags with it.
 */
export function chooseBackend(flags: RunFlags & BackendFlags): Backend {
  const backend = (flags.backend ?? 'embedded') as Backend;
  if (!BACKENDS.includes(backend)) {
    throw new ScenarioError(`--backend must be one of ${BACKENDS.join(', ')}, got "${flags.backend}"`);
  }
  if (backend === 'embedded') {
    for (const f of ['stack', 'outputs', 'endpoint'] as const) {
      if (flags[f] !== undefined) throw new ScenarioError(`--${f} needs --backend localstack`);
    }
    return backend;
  }
  const given = Object.keys(flagsToScenario(flags))
    .filter((k) => !LOCALSTACK_SCENARIO_KEYS.has(k))
    .map((k) => flagOfKey(k) ?? k);
  if (flags.scenario !== undefined) given.unshift('--scenario');
  if (given.length > 0) {
    throw new ScenarioError(
      `${given.join(', ')} cannot be used with --backend localstack: the deployed ` +
        'functions run the parameters the stack was deployed with; redeploy with other context, e.g. ' +
        '`npm run deploy:local -- --scenario FILE` or `-c policy=none -c checkpointDelayMs=5000` (--duration, --bandwidth and ' +
        '--latency are allowed: the last two shape the modelled run reported next to the measured one)',
    );
  }
  return backend;
}

/**
 * Runs `colo run --backend localstack`: the deployed stack's VM for `--duration` (default 30 s) of wall-clock
 * time, and the embedded runtime on the same parameters over the `--bandwidth`/`--latency` link.
 *
 * @throws ScenarioError for bad flags; BackendError when LocalStack or the stack is missing.
 */
export async function runLocalStackCommand(
  flags: RunFlags & BackendFlags,
  progress?: (line: string) => void,
): Promise<RunReport> {
  let durationMs = DEFAULT_LOCALSTACK_DURATION_MS;
  if (flags.duration !== undefined) {
    try {
      durationMs = parseDuration(flags.duration);
    } catch (e) {
      throw new ScenarioError(`--duration: ${e instanceof UnitError ? e.message : String(e)}`);
    }
    if (!(durationMs > 0) || durationMs > 3_600_000) {
      throw new ScenarioError(`--duration must be above 0 and at most 1h with --backend localstack`);
    }
  }
  const link = resolveScenario(
    flagsToScenario({
      ...(flags.bandwidth !== undefined ? { bandwidth: flags.bandwidth } : {}),
      ...(flags.latency !== undefined ? { latency: flags.latency } : {}),
    }),
  ).link;
  const clients = clientsFor(endpointFromEnv(process.env, flags.endpoint));
  const report = await runOnLocalStack({
    clients,
    ...(flags.stack !== undefined ? { stackName: flags.stack } : {}),
    ...(flags.outputs !== undefined ? { outputsFile: flags.outputs } : {}),
    durationMs,
    link,
    ...(progress ? { progress } : {}),
  });
  // The verdict as an embedded run gives it: a failover is `failed-over` (exit 3) with its cause in words.
  for (const run of report.runs) {
    if (run.outcome?.reason)
      run.outcome.cause = explainReason(run.outcome.reason, run.outcome.at, report.scenario);
    run.verdict = verdictOf(run);
  }
  return report;
}
