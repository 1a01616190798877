/**
 * What the Step Functions backend of `colo experiment` and its stack (lib/experiment-stack.ts) agree on: the
 * stack's outputs, the S3 key layout of a run, the execution input, the event the cell function receives
 * and the result object it writes. One module, so the CLI, the Lambda handler and the CDK stack cannot drift.
 */
import type { PolicyName } from '../../engine/params.ts';
import type { CellJob, CellResult } from '../cell-run.ts';

/** Stack outputs the backend reads (CloudFormation `DescribeStacks`). */
export const EXPERIMENT_OUTPUTS = {
  bucketName: 'ExperimentBucketName',
  stateMachineArn: 'ExperimentStateMachineArn',
  cellFunctionName: 'ExperimentCellFunctionName',
  mapKind: 'ExperimentMapKind',
} as const;

/** The default stack name (`--stack`, context `stackName`). */
export const DEFAULT_EXPERIMENT_STACK = 'ColoExperiments';

/** Environment variable holding the results bucket of the cell function. */
export const EXPERIMENT_BUCKET_ENV = 'COLO_EXPERIMENT_BUCKET';

/** Key prefix of every run: `runs/<runId>/`. */
export const RUNS_PREFIX = 'runs/';

/** How the state machine fans out: a Distributed Map over an S3 item list (AWS) or an inline Map (LocalStack gap). */
export type MapKind = 'distributed' | 'inline';

/** A run id: the execution's name and the run's key prefix (lower-case letters, digits and dashes). */
export const RUN_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,79}$/;

/** Keys of one run in the bucket. */
export interface RunKeys {
  /** `runs/<runId>/cells.json`: the JSON array of {@link CellJob}s the map reads. */
  cells: string;
  /** `runs/<runId>/results/`: one `<cell key>.json` ({@link CellResultObject}) per finished cell. */
  resultPrefix: string;
}

/** The keys of run `runId`. */
export function runKeys(runId: string): RunKeys {
  return { cells: `${RUNS_PREFIX}${runId}/cells.json`, resultPrefix: `${RUNS_PREFIX}${runId}/results/` };
}

/** The result object key of a cell in a run. */
export function resultKey(resultPrefix: string, cellKey: string): string {
  return `${resultPrefix}${cellKey}.json`;
}

/** The execution input: where the map reads its items and where cells write results. */
export interface ExecutionInput {
  /** Bucket of the items and the results. */
  bucket: string;
  /** Key of the items (a JSON array of {@link CellJob}). */
  cellsKey: string;
  /** Prefix of the results. */
  resultPrefix: string;
  /** The items themselves, for the inline map (which cannot read S3); absent for the distributed map. */
  cells?: CellJob[];
}

/** The event of one cell function invocation (one map item with the run's result prefix). */
export interface CellEvent {
  /** The cell to run. */
  cell: CellJob;
  /** Where its result goes (`runs/<runId>/results/`). */
  resultPrefix: string;
}

/** What the cell function writes to S3 for a finished cell. */
export interface CellResultObject extends CellResult {
  /** The cell's key. */
  key: string;
  /** The policy it ran (a check against the item). */
  policy: PolicyName;
}

/** A cell event or result that does not have the expected shape. */
export class ExperimentContractError extends Error {
  override readonly name = 'ExperimentContractError';
}

const CELL_KEY = /^[A-Za-z0-9_-]{1,128}$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks the shape of a cell event (the scenario itself is checked by the engine when the cell runs).
 *
 * @throws ExperimentContractError naming what is wrong.
 */
export function parseCellEvent(event: unknown): CellEvent {
  if (!isRecord(event)) throw new ExperimentContractError('cell event: not an object');
  const { cell, resultPrefix } = event;
  if (typeof resultPrefix !== 'string' || !/^runs\/[a-z0-9][a-z0-9-]{0,79}\/results\/$/.test(resultPrefix))
    throw new ExperimentContractError('cell event: resultPrefix must be runs/<run id>/results/');
  if (!isRecord(cell)) throw new ExperimentContractError('cell event: cell is not an object');
  if (typeof cell.key !== 'string' || !CELL_KEY.test(cell.key))
    throw new ExperimentContractError('cell event: cell.key must be 1-128 of A-Z a-z 0-9 _ -');
  if (cell.policy !== 'none' && cell.policy !== 'fixed' && cell.policy !== 'adaptive')
    throw new ExperimentContractError('cell event: cell.policy must be none, fixed or adaptive');
  if (!isRecord(cell.scenario))
    throw new ExperimentContractError('cell event: cell.scenario is not an object');
  return { cell: cell as unknown as CellJob, resultPrefix };
}

/**
 * Checks a result object read back from S3 against the cell it should belong to.
 *
 * @throws ExperimentContractError when it is not a result of that cell.
 */
export function parseCellResult(text: string, cellKey: string): CellResultObject {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ExperimentContractError(`result of cell ${cellKey}: not JSON`);
  }
  if (!isRecord(v) || v.key !== cellKey)
    throw new ExperimentContractError(`result of cell ${cellKey}: not a result of that cell`);
  if (!isRecord(v.metrics) || typeof v.verdict !== 'string' || typeof v.simulatedMs !== 'number')
    throw new ExperimentContractError(`result of cell ${cellKey}: missing metrics, verdict or simulatedMs`);
  return v as unknown as CellResultObject;
}
