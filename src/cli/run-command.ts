import { summarise } from '../engine/metrics/summary.ts';
import { runEmbedded } from '../runtime/embedded/run.ts';
import { verifyRun } from '../runtime/verify.ts';
import { outcomeOf } from './outcome.ts';
import { type PolicyReport, REPORT_VERSION, type RunReport } from './report.ts';
import type { Scenario } from './scenario.ts';

/** Runs a scenario once per policy on the embedded runtime, all on the same seed. */
export function runScenario(
  scenario: Scenario,
  options: { progress?: (policy: string, fraction: number) => void; now?: () => number } = {},
): RunReport {
  const clock = options.now ?? (() => performance.now());
  const runs: PolicyReport[] = [];
  for (const policy of scenario.policies) {
    const params = { ...scenario.params, policy };
    const t0 = clock();
    // The PVM's digest at every checkpoint stop, including transactions the primary gave up on.
    const stopDigests = new Map<number, string>();
    const result = runEmbedded({
      params,
      link: scenario.link,
      durationMs: scenario.durationMs,
      onProgress: (f) => options.progress?.(policy, f),
      ...(scenario.faults ? { faults: { model: scenario.faults } } : {}),
      observe: (_at, p) => {
        if (p.txn?.digest) stopDigests.set(p.epoch, p.txn.digest);
      },
    });
    // Injected faults cause rejections (duplicates, copies after a redelivery): they are counted, not failures.
    const verification = verifyRun(result, params, {
      expectRejections: scenario.faults !== undefined,
      stopDigests,
    });
    runs.push({
      policy,
      summary: summarise(result.checkpoints, result.rounds),
      verification,
      outcome: outcomeOf(result),
      ...(scenario.faults ? { faultStats: result.faultStats } : {}),
      rejections: result.rejections.length,
      final: result.final,
      messages: result.messages.length,
      wallMs: clock() - t0,
    });
  }
  return { version: REPORT_VERSION, backend: 'embedded', scenario, runs };
}
