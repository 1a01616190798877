/**
 * The Step Functions backend of `colo experiment`: a {@link CellRunner} that sends every cell it is given in
 * one go to a deployed experiment stack (lib/experiment-stack.ts) — the cell list to S3, one execution of
 * the state machine — and hands each cell's result back as its object appears under the run's result
 * prefix (polled), so the experiment command records, resumes and reports exactly as with worker threads.
 */
import { type CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  type SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { BackendError } from '../../runtime/localstack/aws.ts';
import type { CellJob, CellResult } from '../cell-run.ts';
import type { CellRunner, RunningCell } from '../pool.ts';
import {
  EXPERIMENT_OUTPUTS,
  type ExecutionInput,
  type MapKind,
  parseCellResult,
  RUN_ID_PATTERN,
  runKeys,
} from './contract.ts';

/** The deployed stack is missing or not usable. */
export class ExperimentStackError extends BackendError {
  override readonly name = 'ExperimentStackError';
}

/** The execution ended without results for every cell, or the service kept failing. */
export class StepFunctionsRunError extends Error {
  override readonly name = 'StepFunctionsRunError';
}

/** What the backend needs of a deployed experiment stack. */
export interface ExperimentTarget {
  /** Stack name. */
  stackName: string;
  /** Bucket of the runs. */
  bucket: string;
  /** The state machine. */
  stateMachineArn: string;
  /** How its map reads the cells. */
  mapKind: MapKind;
}

/** Clients the backend uses. */
export interface StepFunctionsClients {
  /** S3 (path-style on an emulator). */
  s3: S3Client;
  /** Step Functions. */
  sfn: SFNClient;
  /** CloudFormation (finding the stack). */
  cloudformation: CloudFormationClient;
  /** Where they point, for messages (`AWS` when no endpoint is set). */
  where: string;
}

/**
 * Reads the stack's outputs.
 *
 * @throws ExperimentStackError when the stack does not exist, is not complete, or lacks an output.
 */
export async function findExperimentStack(
  clients: StepFunctionsClients,
  stackName: string,
): Promise<ExperimentTarget> {
  // An emulator's endpoint is passed on: the deploy script targets AWS_ENDPOINT_URL (default port 4566).
  const env = /^https?:\/\//.test(clients.where) ? `AWS_ENDPOINT_URL=${clients.where} ` : '';
  const deploy = `deploy it with \`${env}npm run deploy:experiments:local -- -c experimentStack=${stackName}\` (LocalStack) or \`npx cdk deploy --app "npx tsx bin/experiment-app.ts" -c experimentStack=${stackName}\` (AWS)`;
  let stack: { StackStatus?: string; Outputs?: { OutputKey?: string; OutputValue?: string }[] } | undefined;
  try {
    stack = (await clients.cloudformation.send(new DescribeStacksCommand({ StackName: stackName })))
      .Stacks?.[0];
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (!/does not exist/i.test(message))
      throw new ExperimentStackError(
        `--backend stepfunctions: cannot reach CloudFormation on ${clients.where}: ${message}`,
      );
  }
  if (!stack)
    throw new ExperimentStackError(
      `--stack: experiment stack ${stackName} is not deployed on ${clients.where}: ${deploy}`,
    );
  const status = stack.StackStatus ?? 'UNKNOWN';
  if (!/_COMPLETE$/.test(status) || /DELETE|ROLLBACK/.test(status))
    throw new ExperimentStackError(`--stack: experiment stack ${stackName} is ${status}: ${deploy}`);
  const out: Record<string, string> = {};
  for (const o of stack.Outputs ?? []) if (o.OutputKey && o.OutputValue) out[o.OutputKey] = o.OutputValue;
  const need = (key: string) => {
    const v = out[key];
    if (!v)
      throw new ExperimentStackError(
        `--stack: stack ${stackName} has no output ${key}: is it an experiment stack (lib/experiment-stack.ts)? ${deploy}`,
      );
    return v;
  };
  const mapKind = need(EXPERIMENT_OUTPUTS.mapKind);
  if (mapKind !== 'distributed' && mapKind !== 'inline')
    throw new ExperimentStackError(`--stack: stack ${stackName} has an unknown map kind ${mapKind}`);
  return {
    stackName,
    bucket: need(EXPERIMENT_OUTPUTS.bucketName),
    stateMachineArn: need(EXPERIMENT_OUTPUTS.stateMachineArn),
    mapKind,
  };
}

/** A run id for an experiment: its name, the time and a random tail (an execution name and a key prefix). */
export function newRunId(experiment: string, nowMs: number, random: () => number = Math.random): string {
  const name =
    experiment
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+/, '')
      .slice(0, 48) || 'run';
  const tail = Math.floor(random() * 36 ** 6)
    .toString(36)
    .padStart(6, '0');
  const id = `${name}-${Math.floor(nowMs).toString(36)}-${tail}`;
  if (!RUN_ID_PATTERN.test(id)) throw new Error(`run id ${id} does not match ${RUN_ID_PATTERN}`);
  return id;
}

/** Largest execution input Step Functions accepts (the inline map carries the cells in it), bytes. */
export const MAX_EXECUTION_INPUT_BYTES = 256 * 1024;

/**
 * Checks that every cell survives JSON (S3 and the state machine carry them as JSON, worker threads by
 * structured clone) and returns the cell list's text.
 *
 * @throws StepFunctionsRunError naming the first cell that does not.
 */
export function cellsJson(jobs: readonly CellJob[]): string {
  const text = JSON.stringify(jobs);
  const back = JSON.parse(text) as CellJob[];
  jobs.forEach((job, i) => {
    if (!sameJson(job, back[i]))
      throw new StepFunctionsRunError(`cell ${job.key} does not survive JSON (a non-finite number?)`);
  });
  return text;
}

function sameJson(a: unknown, b: unknown): boolean {
  if (typeof a === 'number') return Number.isFinite(a) && a === b;
  if (Array.isArray(a))
    return Array.isArray(b) && a.length === b.length && a.every((v, i) => sameJson(v, b[i]));
  if (typeof a === 'object' && a !== null) {
    if (typeof b !== 'object' || b === null) return false;
    const ea = Object.entries(a).filter(([, v]) => v !== undefined);
    return (
      ea.length === Object.keys(b).length &&
      ea.every(([k, v]) => sameJson(v, (b as Record<string, unknown>)[k]))
    );
  }
  return a === b;
}

/** Options of {@link stepFunctionsCellRunner}. */
export interface StepFunctionsRunnerOptions {
  /** Clients. */
  clients: StepFunctionsClients;
  /** The stack. */
  target: ExperimentTarget;
  /** The run's id (execution name, key prefix); see {@link newRunId}. */
  runId: string;
  /** Pause between polls, ms (default 2 000). */
  pollMs?: number;
  /** Polls in a row that may fail (network, throttling) before the run gives up (default 10). */
  maxPollFailures?: number;
  /**
   * Stop requests made before a stopped execution is given up on while it still reads `RUNNING` (default
   * 10), one every `stopRetryMs`. LocalStack 4.13.1 answers a stop that reaches an execution still being set
   * up with a 500, or with a 200 and nothing done, and the execution then runs its cells to the end.
   */
  maxStopRequests?: number;
  /** Pause between stop requests while the execution still runs, ms (default 1 000). */
  stopRetryMs?: number;
  /** Pause between reads of a stopped execution's status, ms (default 250: a stop takes effect in ~0.25 s). */
  stopCheckMs?: number;
  /** How long one stop or status request may take before it counts as failed, ms (default 5 000). */
  stopCallTimeoutMs?: number;
  /** How long stopping may take in all before it is given up on, ms (default 15 000). */
  stopBudgetMs?: number;
  /** The clock of `stopBudgetMs`, ms (default `Date.now`). */
  now?: () => number;
  /** Waits `ms` (default a timer; tests pass their own). */
  sleep?: (ms: number) => Promise<void>;
  /** Notes for the user (the execution started, a poll failed and will be retried). */
  note?: (line: string) => void;
}

interface Pending {
  job: CellJob;
  resolve: (r: CellResult) => void;
  reject: (e: Error) => void;
}

/**
 * A cell runner on a deployed experiment stack. Every cell started in the same turn of the event loop goes
 * into one execution (the experiment command starts all of them at once: `slots` is unbounded).
 */
export function stepFunctionsCellRunner(opts: StepFunctionsRunnerOptions): CellRunner & {
  describe: (cells: number) => string;
  /**
   * What to print if the process must quit now (a second Ctrl-C): the command that stops an execution
   * being stopped and not yet seen ended; undefined otherwise.
   */
  quitNote: () => string | undefined;
} {
  const { clients, target, runId } = opts;
  const pollMs = opts.pollMs ?? 2000;
  const maxFailures = opts.maxPollFailures ?? 10;
  const maxStops = Math.max(1, opts.maxStopRequests ?? 10);
  const stopRetryMs = opts.stopRetryMs ?? 1000;
  const stopCheckMs = Math.max(1, Math.min(opts.stopCheckMs ?? 250, stopRetryMs));
  const stopCallTimeoutMs = opts.stopCallTimeoutMs ?? 5000;
  const stopBudgetMs = opts.stopBudgetMs ?? 15_000;
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const note = opts.note ?? (() => {});
  const keys = runKeys(runId);
  const pending = new Map<string, Pending>();
  let batch: Pending[] = [];
  let started = false;
  let closed = false;
  /** Set by an interruption or close: an execution starting after it is stopped at once. */
  let cancelled = false;
  let executionArn: string | undefined;
  /** True once the execution read as ended after a stop (nothing of it is left running). */
  let stopConfirmed = false;
  /** Resolves at the first cancellation: a poll's pause ends early. */
  let wakeOnCancel: () => void = () => {};
  const cancelledNow = new Promise<void>((r) => {
    wakeOnCancel = r;
  });
  let stopping: Promise<void> | undefined;
  let running: Promise<void> | undefined;

  const failAll = (e: Error) => {
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  /** One request of the stop loop, failed if it takes more than `stopCallTimeoutMs`. */
  const call = async <T>(send: (o: { abortSignal: AbortSignal }) => Promise<T>): Promise<T> => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        send({ abortSignal: abort.signal }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            abort.abort();
            reject(new Error(`no answer in ${stopCallTimeoutMs} ms`));
          }, stopCallTimeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  };
  /** True when `arn` no longer reads `RUNNING`. */
  const ended = async (arn: string): Promise<boolean> => {
    const d = await call((o) => clients.sfn.send(new DescribeExecutionCommand({ executionArn: arn }), o));
    return d.status !== 'RUNNING';
  };
  /**
   * Asks Step Functions to stop `arn` until it no longer reads `RUNNING`: a stop every `stopRetryMs`, its
   * effect read every `stopCheckMs`, at most `maxStops` stops within `stopBudgetMs`; a failed or slow
   * request is noted and tried again.
   */
  const stopUntilEnded = async (arn: string, cause: string): Promise<void> => {
    const t0 = now();
    let why = '';
    let stops = 0;
    while (stops < maxStops && now() - t0 < stopBudgetMs) {
      stops++;
      try {
        await call((o) => clients.sfn.send(new StopExecutionCommand({ executionArn: arn, cause }), o));
        for (let waited = 0; ; waited += stopCheckMs) {
          if (await ended(arn)) {
            stopConfirmed = true;
            return;
          }
          why = 'it still reads RUNNING';
          if (waited + stopCheckMs >= stopRetryMs || now() - t0 >= stopBudgetMs) break;
          await sleep(stopCheckMs);
        }
      } catch (e) {
        why = e instanceof Error ? e.message : String(e);
        if (now() - t0 < stopBudgetMs) await sleep(stopRetryMs);
      }
    }
    note(`could not stop ${arn} (${stops} requests in ${now() - t0} ms; last: ${why}); ${stopHint(arn)}`);
  };
  /** The command that stops `arn` from a shell (the AWS CLI), with this run's endpoint when it has one. */
  const stopHint = (arn: string): string => {
    const region = arn.split(':')[3];
    const endpoint = /^https?:\/\//.test(clients.where) ? ` --endpoint-url ${clients.where}` : '';
    return `stop it with: aws stepfunctions stop-execution --execution-arn ${arn}${region ? ` --region ${region}` : ''}${endpoint}`;
  };
  /** Stops the execution once it has started (before that, `run` stops it as soon as it starts). */
  const stop = (cause: string): Promise<void> => {
    cancelled = true;
    wakeOnCancel();
    if (!executionArn) return Promise.resolve();
    stopping ??= stopUntilEnded(executionArn, cause);
    return stopping;
  };

  /** Reads the results that appeared since the last look; resolves their cells. */
  const collect = async () => {
    let token: string | undefined;
    do {
      const page = await clients.s3.send(
        new ListObjectsV2Command({
          Bucket: target.bucket,
          Prefix: keys.resultPrefix,
          ContinuationToken: token,
        }),
      );
      for (const o of page.Contents ?? []) {
        const key = o.Key?.slice(keys.resultPrefix.length).replace(/\.json$/, '');
        const p = key === undefined ? undefined : pending.get(key);
        if (!p) continue;
        const body = await clients.s3.send(new GetObjectCommand({ Bucket: target.bucket, Key: o.Key }));
        const text = (await body.Body?.transformToString('utf8')) ?? '';
        const { key: _k, policy, ...result } = parseCellResult(text, p.job.key);
        if (policy !== p.job.policy)
          throw new StepFunctionsRunError(
            `result of cell ${p.job.key} ran policy ${policy}, not ${p.job.policy}`,
          );
        pending.delete(p.job.key);
        p.resolve(result);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  };

  const run = async (jobs: Pending[]) => {
    const text = cellsJson(jobs.map((p) => p.job));
    const input: ExecutionInput = {
      bucket: target.bucket,
      cellsKey: keys.cells,
      resultPrefix: keys.resultPrefix,
    };
    if (target.mapKind === 'inline') input.cells = JSON.parse(text) as CellJob[];
    const inputText = JSON.stringify(input);
    if (Buffer.byteLength(inputText) > MAX_EXECUTION_INPUT_BYTES)
      throw new StepFunctionsRunError(
        `${jobs.length} cells make an execution input of ${Math.ceil(Buffer.byteLength(inputText) / 1024)} KiB, over Step Functions' 256 KiB: ` +
          `stack ${target.stackName} has an inline map; redeploy it with -c mapKind=distributed (items read from S3)`,
      );
    await clients.s3.send(
      new PutObjectCommand({
        Bucket: target.bucket,
        Key: keys.cells,
        Body: text,
        ContentType: 'application/json',
      }),
    );
    // Interrupted while the cells were uploaded: no execution is started only to be stopped.
    if (cancelled || closed) return;
    // Standard workflows: starting the same name with the same input again returns the same execution, so a
    // retried request (the SDK retries) cannot start a second one.
    const r = await clients.sfn.send(
      new StartExecutionCommand({ stateMachineArn: target.stateMachineArn, name: runId, input: inputText }),
    );
    executionArn = r.executionArn;
    note(
      `execution ${executionArn} started with ${jobs.length} cells (${target.mapKind} map); results under s3://${target.bucket}/${keys.resultPrefix}`,
    );
    if (cancelled || closed) return void (await stop('colo experiment stopped'));
    let failures = 0;
    for (;;) {
      await Promise.race([sleep(pollMs), cancelledNow]);
      if (closed || pending.size === 0) return;
      try {
        await collect();
        if (pending.size === 0) return;
        const d = await clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
        failures = 0;
        if (d.status !== 'RUNNING' && d.status !== 'PENDING_REDRIVE') {
          // Results written just before the end are listed now.
          await collect();
          if (pending.size === 0) return;
          const why = [d.error, d.cause].filter(Boolean).join(': ');
          throw new StepFunctionsRunError(
            `execution ${executionArn} ended ${d.status}${why ? ` (${why})` : ''} without results for ${pending.size} cell(s), e.g. ${[...pending.keys()][0]}`,
          );
        }
      } catch (e) {
        if (e instanceof StepFunctionsRunError || (e as Error).name === 'ExperimentContractError') throw e;
        failures++;
        note(
          `polling failed (${failures}/${maxFailures}): ${e instanceof Error ? e.message : String(e)}; retrying`,
        );
        if (failures >= maxFailures)
          throw new StepFunctionsRunError(
            `polling execution ${executionArn} failed ${failures} times in a row: ${(e as Error).message}`,
          );
      }
    }
  };

  const flush = () => {
    const jobs = batch;
    batch = [];
    if (jobs.length === 0) return;
    if (started) {
      failAll(new StepFunctionsRunError('the Step Functions backend runs one batch of cells per run'));
      return;
    }
    started = true;
    running = run(jobs).catch(async (e: unknown) => {
      await stop('colo experiment failed');
      failAll(e instanceof Error ? e : new Error(String(e)));
    });
  };

  return {
    slots: Number.MAX_SAFE_INTEGER,
    quitNote: () =>
      executionArn !== undefined && stopping !== undefined && !stopConfirmed
        ? `execution ${executionArn} may still be running; ${stopHint(executionArn)}`
        : undefined,
    describe: (cells) =>
      `on Step Functions (stack ${target.stackName}, ${target.mapKind} map, run ${runId}, ${cells} cells)`,
    // A cell reports no partial progress: it is done when its result is collected.
    start(job): RunningCell {
      // Results are matched by key: a second cell of one key would never settle.
      if (pending.has(job.key))
        return {
          result: Promise.reject(new StepFunctionsRunError(`cell ${job.key} is already running`)),
          cancel: () => {},
        };
      let entry: Pending | undefined;
      const result = new Promise<CellResult>((resolve, reject) => {
        entry = { job, resolve, reject };
      });
      const p = entry as unknown as Pending;
      pending.set(job.key, p);
      batch.push(p);
      if (batch.length === 1) setImmediate(flush);
      return {
        result,
        cancel: () => {
          if (!pending.has(job.key)) return;
          void stop('colo experiment interrupted');
          failAll(new Error('cancelled'));
        },
      };
    },
    close: async () => {
      closed = true;
      if (pending.size > 0) {
        await stop('colo experiment closed');
        failAll(new Error('cancelled'));
      }
      // An execution still being started is stopped by `run` once it has its ARN.
      await running;
      await stopping;
    },
  };
}
