/**
 * `experiment-cell`: runs ONE cell of a `colo experiment` grid on the embedded runtime — the same
 * `runCell` the worker threads of the embedded backend call — and writes its result to S3 as
 * `<resultPrefix><cell key>.json`. Invoked by the Step Functions map of the experiment stack
 * (lib/experiment-stack.ts), one item per invocation. Environment: `COLO_EXPERIMENT_BUCKET`,
 * `AWS_S3_FORCE_PATH_STYLE`.
 *
 * Errors: a malformed event or a cell whose scenario the engine refuses fails with its own error name (not
 * retried: it would fail again); a failed result write fails as `ResultWriteError`, which the state
 * machine retries. A retried cell writes the same object again (the cell's figures are deterministic).
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type CellJob, type CellResult, runCell } from '../../src/experiment/cell-run.ts';
import {
  type CellResultObject,
  EXPERIMENT_BUCKET_ENV,
  parseCellEvent,
  resultKey,
} from '../../src/experiment/stepfunctions/contract.ts';
import { requireEnv, s3ClientFromEnv } from '../adapters/env.ts';

/** The result object could not be written (transient: the state machine retries the cell). */
export class ResultWriteError extends Error {
  override readonly name = 'ResultWriteError';
}

/** What the handler returns to the map (small: the map state discards it, the result is in S3). */
export interface ExperimentCellResponse {
  /** The cell's key. */
  key: string;
  /** How its run ended. */
  verdict: CellResult['verdict'];
  /** Where its result is. */
  resultKey: string;
}

/** What the handler needs. */
export interface ExperimentCellDeps {
  /** S3 client. */
  s3: S3Client;
  /** Results bucket. */
  bucket: string;
  /** Runs a cell (default {@link runCell}). */
  run?: (job: CellJob) => CellResult;
}

/** The handler over explicit dependencies. */
export function createExperimentCellHandler(
  deps: ExperimentCellDeps,
): (event: unknown) => Promise<ExperimentCellResponse> {
  const run = deps.run ?? ((job: CellJob) => runCell(job));
  return async (event) => {
    const { cell, resultPrefix } = parseCellEvent(event);
    const result = run(cell);
    const body: CellResultObject = { key: cell.key, policy: cell.policy, ...result };
    const key = resultKey(resultPrefix, cell.key);
    try {
      await deps.s3.send(
        new PutObjectCommand({
          Bucket: deps.bucket,
          Key: key,
          Body: JSON.stringify(body),
          ContentType: 'application/json',
        }),
      );
    } catch (e) {
      throw new ResultWriteError(
        `writing s3://${deps.bucket}/${key} failed: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    console.log(
      JSON.stringify({ message: 'cell done', key: cell.key, verdict: result.verdict, wallMs: result.wallMs }),
    );
    return { key: cell.key, verdict: result.verdict, resultKey: key };
  };
}

let built: ((event: unknown) => Promise<ExperimentCellResponse>) | undefined;

/** Lambda entry point: dependencies from the environment, built on the first invocation. */
export const handler = (event: unknown): Promise<ExperimentCellResponse> => {
  built ??= createExperimentCellHandler({
    s3: s3ClientFromEnv(),
    bucket: requireEnv(EXPERIMENT_BUCKET_ENV),
  });
  return built(event);
};
