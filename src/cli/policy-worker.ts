/**
 * A worker thread that runs policies of a scenario one job at a time (src/cli/worker-runner.ts starts it),
 * so that the main thread stays free to answer Ctrl-C while a run computes.
 */
import { parentPort } from 'node:worker_threads';
import type { PolicyName } from '../engine/params.ts';
import { type RecordRequest, runPolicyRecorded } from './run-command.ts';
import type { Scenario } from './scenario.ts';

/** A job for the worker. */
export interface PolicyJob {
  /** The resolved scenario (structured-cloned into the worker). */
  scenario: Scenario;
  /** The policy to run. */
  policy: PolicyName;
  /** What to record beyond the report. */
  record?: RecordRequest;
}

/** What the worker posts: progress (fraction of simulated time), the report, or the error that ended the job. */
export type PolicyWorkerMessage =
  | { type: 'progress'; fraction: number }
  | { type: 'done'; report: unknown; recording?: unknown }
  | { type: 'failed'; message: string; stack?: string };

parentPort?.on('message', (job: PolicyJob) => {
  const post = (m: PolicyWorkerMessage) => parentPort?.postMessage(m);
  try {
    const { report, recording } = runPolicyRecorded(job.scenario, job.policy, {
      progress: (_p, fraction) => post({ type: 'progress', fraction }),
      ...(job.record ? { record: job.record } : {}),
    });
    post({ type: 'done', report, recording });
  } catch (e) {
    post({
      type: 'failed',
      message: e instanceof Error ? e.message : String(e),
      ...(e instanceof Error && e.stack ? { stack: e.stack } : {}),
    });
  }
});
