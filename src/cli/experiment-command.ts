/**
 * `colo experiment FILE`: expands the experiment file into cells, skips the ones its folder's cells.jsonl
 * already has, runs the rest in parallel (progress and time left on stderr), appends each finished cell to
 * cells.jsonl (fsync'd), then writes the folder's tables, charts and report.html.
 */
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, join, parse, resolve } from 'node:path';
import { CellLog, readCellLog } from '../experiment/cell-log.ts';
import type { CellRow } from '../experiment/cell-run.ts';
import { readExperimentFile } from '../experiment/file.ts';
import { type Cell, expandExperiment } from '../experiment/grid.ts';
import { type FolderLock, FolderLockedError, lockFolder } from '../experiment/lock.ts';
import { OUTPUT_FILES, writeOutputs } from '../experiment/outputs.ts';
import { type CellRunner, defaultJobs, type RunningCell } from '../experiment/pool.ts';
import {
  findExperimentStack,
  newRunId,
  stepFunctionsCellRunner,
} from '../experiment/stepfunctions/backend.ts';
import { stepFunctionsClients } from '../experiment/stepfunctions/clients.ts';
import { DEFAULT_EXPERIMENT_STACK } from '../experiment/stepfunctions/contract.ts';
import { timelineCells } from '../experiment/timelines.ts';
import { EXIT } from './outcome.ts';
import { OutputError } from './output.ts';
import { ScenarioError } from './scenario.ts';
import { onQuit, type StopSignal, stopWord } from './sigint.ts';

/** Options of `colo experiment`. */
export interface ExperimentFlags {
  /** Output folder (default `results/<name>` beside the file). */
  out?: string;
  /** Cells run at once (default: the cores). */
  jobs?: string;
  /** Print the cells and what would run; run nothing. */
  dryRun?: boolean;
  /** No progress on stderr. */
  quiet?: boolean;
  /** Skip the PNG copies of the charts. */
  png?: boolean;
  /** Where cells run: `embedded` (default, worker threads) or `stepfunctions` (a deployed experiment stack). */
  backend?: string;
  /** The experiment stack (`--backend stepfunctions`; default `ColoExperiments`). */
  stack?: string;
  /** Endpoint of the emulator (`--backend stepfunctions`; default `AWS_ENDPOINT_URL`, else AWS). */
  endpoint?: string;
}

/** Where `colo experiment` runs its cells. */
export type ExperimentBackend = 'embedded' | 'stepfunctions';

/** What the Step Functions runner is made from. */
export interface StepFunctionsRunnerRequest {
  /** Stack name. */
  stack: string;
  /** Endpoint URL, if given. */
  endpoint?: string;
  /** The experiment's name (for the run id). */
  name: string;
  /** Notes for the user (stderr). */
  note: (line: string) => void;
}

/** Where `colo experiment` writes and how it runs cells. */
export interface ExperimentIo {
  /** Standard output. */
  stdout: (text: string) => void;
  /** Standard error. */
  stderr: (text: string) => void;
  /** Whether stderr is a terminal (progress redraws one line). */
  stderrIsTTY: boolean;
  /** Wall clock, ms. */
  now: () => number;
  /** Registers a handler of Ctrl-C (and SIGTERM, named in its argument; none means Ctrl-C); returns its removal. */
  onInterrupt?: (handler: (signal?: StopSignal) => void) => () => void;
  /** Makes the cell runner for `jobs` cells at once. */
  cellRunner: (jobs: number) => CellRunner;
  /**
   * Makes the runner of `--backend stepfunctions` (finds the stack first; throws a BackendError when it is
   * missing). Default: {@link stepFunctionsRunner} with the SDK's clients.
   */
  stepFunctionsRunner?: (
    request: StepFunctionsRunnerRequest,
  ) => Promise<CellRunner & { describe?: (cells: number) => string; quitNote?: () => string | undefined }>;
  /** Environment (endpoint, region, credentials of the Step Functions backend). */
  env?: NodeJS.ProcessEnv;
}

/**
 * The Step Functions runner on the SDK's clients: finds the stack, then sends the cells to it.
 *
 * @throws ExperimentStackError when the stack is missing.
 */
export async function stepFunctionsRunner(
  request: StepFunctionsRunnerRequest,
  env: NodeJS.ProcessEnv = process.env,
  now: () => number = Date.now,
): Promise<CellRunner & { describe: (cells: number) => string; quitNote: () => string | undefined }> {
  const clients = stepFunctionsClients(env, request.endpoint);
  const target = await findExperimentStack(clients, request.stack);
  return stepFunctionsCellRunner({
    clients,
    target,
    runId: newRunId(request.name, now()),
    note: request.note,
  });
}

function backendOf(flags: ExperimentFlags): ExperimentBackend {
  const b = flags.backend ?? 'embedded';
  if (b !== 'embedded' && b !== 'stepfunctions')
    throw new ScenarioError(
      `--backend: "${b}" is not a backend of colo experiment: use embedded or stepfunctions`,
    );
  if (b === 'embedded') {
    for (const [flag, v] of [
      ['--stack', flags.stack],
      ['--endpoint', flags.endpoint],
    ] as const)
      if (v !== undefined) throw new ScenarioError(`${flag} needs --backend stepfunctions`);
  } else {
    if (flags.jobs !== undefined)
      throw new ScenarioError(
        "--jobs applies to the embedded backend: on Step Functions the stack's maxConcurrency sets how many cells run at once",
      );
    if (flags.stack !== undefined && !/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(flags.stack))
      throw new ScenarioError(`--stack: "${flags.stack}" is not a CloudFormation stack name`);
    if (flags.endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(flags.endpoint))
      throw new ScenarioError(
        `--endpoint: "${flags.endpoint}" is not an http(s) URL, e.g. http://127.0.0.1:4566`,
      );
  }
  return b;
}

/** The output folder of an experiment: `--out`, or `results/<name>` beside the experiment file. */
export function outputDir(file: string, name: string, out?: string): string {
  return out ?? join(dirname(file), 'results', name);
}

/** Why a filesystem call failed, in words (the code's meaning, not Node's message). */
function fsWhy(e: unknown, path: string): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EROFS') return `${path} is on a read-only filesystem`;
  if (code === 'EACCES' || code === 'EPERM') return `${path} is not writable`;
  if (code === 'EEXIST' || code === 'ENOTDIR') return `a file is in the way at ${path}`;
  return (e as Error).message;
}

/** The deepest folder of `path` that exists (where creating the rest would start). */
function existingAncestor(path: string): string {
  let p = resolve(path);
  while (p !== parse(p).root) {
    try {
      statSync(p);
      return p;
    } catch {
      p = dirname(p);
    }
  }
  return p;
}

/**
 * Creates the output folder (and its parents), checks that it can be written and locks it, or says why it
 * cannot in one line — before anything runs.
 */
function prepareDir(dir: string): FolderLock {
  const at = `--out: cannot use ${dir} as the experiment's folder`;
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    // A failed mkdir -p reports the deepest folder (ENOENT on a read-only parent): name the one in the way.
    const top = existingAncestor(dir);
    let why: string;
    try {
      if (!statSync(top).isDirectory()) why = `a file is in the way at ${top}`;
      else {
        accessSync(top, constants.W_OK);
        // Writable by its mode, yet mkdir failed in it: its error is about `top`, whatever path it names.
        const code = (e as NodeJS.ErrnoException).code;
        why = code === 'ENOENT' ? `no folder can be created in ${top}` : fsWhy(e, top);
      }
    } catch (e2) {
      why = fsWhy(e2, top);
    }
    throw new OutputError(`${at}: ${why}`);
  }
  try {
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'EEXIST' });
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw new OutputError(`${at}: ${fsWhy(e, dir)}`);
  }
  try {
    return lockFolder(dir, (e) => new OutputError(`${at}: ${fsWhy(e, dir)}`));
  } catch (e) {
    if (e instanceof FolderLockedError) throw new OutputError(`--out: ${e.message}`);
    throw e;
  }
}

/** One progress line: cells done, share of the simulated time done, and — once it can be guessed — time left. */
export function experimentProgressLine(p: {
  name: string;
  done: number;
  total: number;
  resumed: number;
  fraction: number;
  elapsedMs: number;
}): string {
  const head = `[${p.name}] ${p.done}/${p.total} cells${p.resumed ? ` (${p.resumed} from an earlier run)` : ''}, ${(p.fraction * 100).toFixed(0)}%`;
  if (p.fraction >= 1) return `${head}, done in ${(p.elapsedMs / 1000).toFixed(1)} s`;
  if (p.fraction < 0.05 || p.elapsedMs < 2000) return head;
  const left = (p.elapsedMs * (1 - p.fraction)) / p.fraction / 1000;
  return `${head}, about ${left < 60 ? `${Math.ceil(left)} s` : `${Math.ceil(left / 60)} min`} left`;
}

/** Exit code of an experiment's finished cells (the worst decides, as for `colo run`). */
export function experimentExitCode(rows: readonly CellRow[]): number {
  if (rows.some((r) => r.verdict === 'diverged')) return EXIT.diverged;
  if (rows.some((r) => r.verdict === 'failed-over')) return EXIT.failedOver;
  if (rows.some((r) => r.metrics.checkpoints === 0)) return EXIT.nothingMeasured;
  return EXIT.ok;
}

function jobsOf(text: string | undefined): number {
  if (text === undefined) return defaultJobs();
  if (!/^[1-9][0-9]{0,2}$/.test(text.trim()))
    throw new ScenarioError(`--jobs: "${text}" is not a whole number from 1 to 999`);
  return Number(text);
}

/** Runs `colo experiment FILE`; returns the exit code. Input errors are thrown (the CLI prints them). */
export async function experimentCommand(
  path: string,
  flags: ExperimentFlags,
  io: ExperimentIo,
): Promise<number> {
  const backend = backendOf(flags);
  const jobs = jobsOf(flags.jobs);
  const experiment = expandExperiment(path, readExperimentFile(path));
  // Checked now, not after the run: the cells the report's timelines show.
  timelineCells(experiment);
  const name = experiment.file.name;
  if (flags.out?.trim() === '') throw new OutputError('--out: the path is empty: name a folder');
  const dir = outputDir(path, name, flags.out);
  const logPath = join(dir, OUTPUT_FILES.cells);
  const { rows, unreadable } = readCellLog(logPath);
  // One run per key, whatever the grid: two cells of one key would collide in cells.jsonl and the backends.
  const todoKeys = new Set<string>();
  const todo = experiment.cells.filter((c) => {
    if (rows.has(c.key) || todoKeys.has(c.key)) return false;
    todoKeys.add(c.key);
    return true;
  });
  const resumed = experiment.cells.length - todo.length;
  const say = (line: string) => io.stderr(`${line}\n`);
  const summary =
    `experiment ${name}: ${experiment.cells.length} cells (${experiment.cells.length / experiment.seeds.length} per seed × ${plural(experiment.seeds.length, 'seed')}` +
    `${Object.keys(experiment.file.grid ?? {}).length ? '' : '; the grid has no axes: one combination'})` +
    `${resumed ? `, ${resumed} already in ${logPath}` : ''}; ${todo.length ? `${todo.length} to run` : 'nothing to run'}`;
  if (flags.dryRun) {
    io.stdout(`${summary} (dry run: nothing was run)\n`);
    for (const c of experiment.cells)
      io.stdout(`  ${c.key}  ${rows.has(c.key) ? 'done' : 'todo'}  ${c.group} seed=${c.seed}\n`);
    io.stdout(`output folder: ${resolve(dir)}\n`);
    return EXIT.ok;
  }
  // The stack is found before the folder is made: a missing stack changes nothing.
  const runner: CellRunner & { describe?: (cells: number) => string; quitNote?: () => string | undefined } =
    backend === 'stepfunctions' && todo.length > 0
      ? await (io.stepFunctionsRunner ?? ((r) => stepFunctionsRunner(r, io.env)))({
          stack: flags.stack ?? DEFAULT_EXPERIMENT_STACK,
          ...(flags.endpoint !== undefined ? { endpoint: flags.endpoint } : {}),
          name,
          note: (line) => {
            if (!flags.quiet) say(line);
          },
        })
      : io.cellRunner(jobs);
  // A second Ctrl-C quits at once: it names an execution still being stopped, with the command that stops it.
  const offQuit = runner.quitNote ? onQuit(runner.quitNote) : () => {};
  let lock: FolderLock;
  try {
    lock = prepareDir(dir);
  } catch (e) {
    await runner.close();
    offQuit();
    throw e;
  }
  // Released however the run ends; a crash leaves it to be taken over (its pid is dead).
  try {
    if (!flags.quiet) {
      const threads = Math.min(runner.slots, todo.length);
      const where = runner.describe
        ? ` ${runner.describe(todo.length)}`
        : threads
          ? ` on ${threads} thread${threads > 1 ? 's' : ''}`
          : '';
      say(`${summary}${todo.length ? where : ''}; writing to ${dir}`);
    }
    if (unreadable)
      say(
        `colo: warning: ${unreadable} line(s) of ${logPath} could not be read as finished cells (cut short or edited?): their cells run again`,
      );

    const log = new CellLog(logPath);
    const weight = (c: Cell) => c.scenario.durationMs;
    const totalWeight = todo.reduce((a, c) => a + weight(c), 0) || 1;
    let doneWeight = 0;
    const running = new Map<Cell, { job: RunningCell; fraction: number }>();
    const start = io.now();
    let interrupted = false;
    let failure: Error | undefined;
    let finished = 0;
    let lastStep = -1;
    const progress = (force = false) => {
      if (flags.quiet) return;
      const partial = [...running.entries()].reduce((a, [c, r]) => a + weight(c) * r.fraction, 0);
      // 100 % only once the last cell is recorded.
      const all = finished === todo.length;
      const fraction = all ? 1 : Math.min(0.99, (doneWeight + partial) / totalWeight);
      const step = io.stderrIsTTY ? Math.floor(fraction * 100) : Math.floor(fraction * 10);
      // On a terminal redraw at every percent and finished cell; in logs print every tenth.
      if (step === lastStep && !(force && io.stderrIsTTY)) return;
      lastStep = step;
      const line = experimentProgressLine({
        name,
        done: resumed + finished,
        total: experiment.cells.length,
        resumed,
        fraction,
        elapsedMs: io.now() - start,
      });
      io.stderr(io.stderrIsTTY ? `\r${line}\x1b[K` : `${line}\n`);
    };
    let signal = 'SIGINT' as StopSignal;
    // Kept until the outputs are written: a signal then lets them finish before the process exits.
    const off = io.onInterrupt?.((s) => {
      interrupted = true;
      signal = s ?? 'SIGINT';
      for (const r of running.values()) r.job.cancel();
    });
    try {
      const queue = [...todo];
      await new Promise<void>((done) => {
        const next = () => {
          while (!interrupted && !failure && running.size < runner.slots && queue.length > 0) {
            const cell = queue.shift() as Cell;
            const entry = {
              job: runner.start({ key: cell.key, scenario: cell.scenario, policy: cell.policy }, (f) => {
                entry.fraction = f;
                progress();
              }),
              fraction: 0,
            };
            running.set(cell, entry);
            entry.job.result.then(
              (result) => {
                running.delete(cell);
                const row: CellRow = {
                  key: cell.key,
                  experiment: name,
                  values: cell.values,
                  policy: cell.policy,
                  seed: cell.seed,
                  ...result,
                };
                log.append(row);
                rows.set(cell.key, row);
                finished++;
                doneWeight += weight(cell);
                progress(true);
                next();
              },
              (e: unknown) => {
                running.delete(cell);
                if (!interrupted && !failure) {
                  failure = e instanceof Error ? e : new Error(String(e));
                  for (const r of running.values()) r.job.cancel();
                }
                next();
              },
            );
          }
          if (running.size === 0) done();
        };
        next();
      });
    } catch (e) {
      off?.();
      throw e;
    } finally {
      log.close();
      await runner.close();
      offQuit();
    }
    if (io.stderrIsTTY && !flags.quiet) io.stderr('\n');
    const current = experiment.cells.flatMap((c) => {
      const r = rows.get(c.key);
      return r ? [r] : [];
    });
    try {
      await writeOutputs(experiment, rows, dir, { png: flags.png !== false });
    } finally {
      off?.();
    }
    if (failure) throw failure;
    if (interrupted) {
      say(
        `colo: ${stopWord(signal)}: ${current.length} of ${experiment.cells.length} cells finished (kept in ${logPath}); ` +
          (current.length < experiment.cells.length
            ? 'run the same command again to run the rest'
            : `the outputs were written to ${dir}`),
      );
      return signal === 'SIGTERM' ? EXIT.terminated : EXIT.interrupted;
    }
    if (!flags.quiet)
      say(
        `experiment ${name}: ${current.length} cells; summary in ${join(dir, OUTPUT_FILES.summary)}, report in ${join(dir, OUTPUT_FILES.report)}`,
      );
    return experimentExitCode(current);
  } finally {
    lock.release();
  }
}

/** `n thing` or `n things`. */
function plural(n: number, thing: string): string {
  return `${n} ${thing}${n === 1 ? '' : 's'}`;
}
