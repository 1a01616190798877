/**
 * `colo`: the command line, as a function of its arguments and its outputs so that tests run it in-process
 * (`bin/colo.ts` only wires it to the process). Every input error ends in one `colo: …` line per problem and
 * exit code 1 — never a stack trace.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import type { PolicyName } from '../engine/params.ts';
import { SCENARIO_AXES } from '../experiment/axes.ts';
import { ExperimentError } from '../experiment/file.ts';
import { type CellRunner, inProcessCellRunner } from '../experiment/pool.ts';
import { UNIT_HELP, UnitError } from '../parameters/units.ts';
import { WorkloadError, workloadHelp } from '../parameters/workload.ts';
import { escapeControls } from '../runtime/cloud/text.ts';
import { BackendError } from '../runtime/localstack/aws.ts';
import { type BackendFlags, chooseBackend, runLocalStackCommand } from './backend.ts';
import { type CostFlags, CostInputError, costCommand, PriceFileError } from './cost-command.ts';
import { type ExperimentFlags, type ExperimentIo, experimentCommand } from './experiment-command.ts';
import { FAULT_EXAMPLE, FAULT_KEYS, FaultSpecError } from './fault-spec.ts';
import { flagsToScenario, type RunFlags } from './flags.ts';
import { RUN_OPTIONS } from './options.ts';
import { EXIT, EXIT_CODES, exitCodeOf, verdictOf } from './outcome.ts';
import { checkOutputPath, OutputError, writeOutput } from './output.ts';
import { figuresOf, planWarnings, renderPlan } from './plan.ts';
import { writeRecordings } from './recordings.ts';
import { type PolicyReport, REPORT_VERSION, type RunReport, renderTable } from './report.ts';
import { newReport, type Recording, type RecordRequest, runPolicyRecorded } from './run-command.ts';
import { fileLayer, resolveScenario, type Scenario, ScenarioError } from './scenario.ts';
import { readScenarioFile } from './scenario-file.ts';
import { type StopSignal, stopWord } from './sigint.ts';
import { addVmCommand, isVmInputError } from './vm-command.ts';

/** A policy's report with what the run recorded beyond it (`--timeline`, `--trace`), if asked. */
export type RecordedReport = PolicyReport & { recording?: Recording };

/**
 * Runs one policy of a scenario, recording what `record` asks for; `cancel` stops it if it can (a worker
 * thread can, an in-process run cannot).
 */
export type PolicyRunner = (
  scenario: Scenario,
  policy: PolicyName,
  progress: (fraction: number) => void,
  record?: RecordRequest,
) => { result: Promise<RecordedReport>; cancel: () => void };

/** Runs a policy in this thread (tests; Ctrl-C is only seen between policies). */
export const inProcessRunner: PolicyRunner = (scenario, policy, progress, record) => ({
  result: new Promise((resolve, reject) => {
    setImmediate(() => {
      try {
        const run = runPolicyRecorded(scenario, policy, {
          progress: (_p, f) => progress(f),
          ...(record ? { record } : {}),
        });
        resolve({ ...run.report, recording: run.recording });
      } catch (e) {
        reject(e);
      }
    });
  }),
  cancel: () => {},
});

/** Where the CLI writes and what it runs on. */
export interface CliIo {
  /** Standard output. */
  stdout: (text: string) => void;
  /** Standard error. */
  stderr: (text: string) => void;
  /** Whether stderr is a terminal (progress redraws one line). */
  stderrIsTTY: boolean;
  /** Wall clock, ms (for the ETA). */
  now: () => number;
  /** Registers a handler of Ctrl-C (and SIGTERM, named in its argument; none means Ctrl-C); returns its removal. */
  onInterrupt?: (handler: (signal?: StopSignal) => void) => () => void;
  /** Ends the process (`colo vm` after a signal released its lease); none: the command just returns. */
  exit?: (code: number) => void;
  /** How policies run (default {@link inProcessRunner}). */
  runner?: PolicyRunner;
  /** Environment (for the LocalStack endpoint). */
  env?: NodeJS.ProcessEnv;
  /** How `colo experiment` runs cells (default: in this thread, one at a time). */
  cellRunner?: (jobs: number) => CellRunner;
  /** How `colo experiment --backend stepfunctions` runs cells (default: the SDK against the deployed stack). */
  stepFunctionsRunner?: ExperimentIo['stepFunctionsRunner'];
}

/** The package version (`colo --version`). */
export function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** One progress line: policy, share of its simulated time, and — once it can be guessed — time left. */
export function progressLine(p: {
  policy: string;
  index: number;
  count: number;
  fraction: number;
  elapsedMs: number;
  simulatedMs: number;
}): string {
  const overall = (p.index + p.fraction) / p.count;
  const head = `[${p.policy}${p.count > 1 ? ` ${p.index + 1}/${p.count}` : ''}] ${(p.fraction * 100).toFixed(0)}% of ${(p.simulatedMs / 1000).toFixed(0)} s simulated`;
  if (overall >= 1) return `${head}, done in ${(p.elapsedMs / 1000).toFixed(1)} s`;
  if (overall < 0.1 || p.elapsedMs < 1000) return head;
  const left = (p.elapsedMs * (1 - overall)) / overall / 1000;
  return `${head}, about ${left < 60 ? `${Math.ceil(left)} s` : `${Math.ceil(left / 60)} min`} left`;
}

/** Help text after the options: units, workloads, faults, exit codes, examples. */
function runHelpAfter(): string {
  return [
    '',
    'Units (b/B decide bits or bytes; a bare number is refused, except 0):',
    `  size      ${UNIT_HELP.size}`,
    `  rate      ${UNIT_HELP.rate}`,
    `  time      ${UNIT_HELP.duration}`,
    '',
    'Workloads (--workload kind[:key=value,...]; a kind alone takes these defaults; page keys take pages or',
    'a size such as 16MiB, rate keys pages/s or a byte rate such as 40MiB/s):',
    ...workloadHelp(),
    '',
    '--faults SPEC: comma-separated key=value; P is a per-message probability, 1% or 0.01; durations take',
    "units; a range A-B whose A has no unit takes B's.",
    ...Object.entries(FAULT_KEYS).map(([k, v]) => `  ${k.padEnd(13)} ${v}`),
    '',
    'Exit codes:',
    ...EXIT_CODES.map(([code, what]) => `  ${String(code).padEnd(4)} ${what}`),
    '',
    'Examples:',
    '  colo run --dry-run --bandwidth 150Mbit              derived figures and warnings, no run',
    '  colo run --policy none,fixed,adaptive --guest 4GiB --bandwidth 10Gbit --payload modelled',
    '  colo run --workload zipf:rate=20000,exponent=1.1 --checkpoint-delay 5s --threshold 32MiB',
    '  colo run --scenario experiments/scenarios/buffered-io.json --json report.json',
    '  colo run --policy fixed --json - | jq .runs[0].verdict  the report on stdout, the table on stderr',
    `  colo run --policy fixed --duration 2m --faults ${FAULT_EXAMPLE}`,
    '  colo run --backend localstack --stack RunColo --duration 90s',
  ].join('\n');
}

/** Splits `text` at spaces into lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return line ? [...lines, line] : lines;
}

/** Help text after the options of `colo experiment`. */
function experimentHelpAfter(): string {
  return [
    '',
    'The file (YAML or JSON; schema: docs/experiment-schema.json):',
    '  name: threshold-sweep            names the experiment and its folder',
    '  base: { guest: 1GiB, duration: 60s, payload: modelled }   scenario keys every cell starts from',
    '  grid: { threshold: [8MiB, 32MiB], policy: [none, fixed] }  axes: every combination is a cell',
    '  seeds: 3                         seeds 1..3 (or a list); each cell runs once per seed',
    '  chart: { x: threshold, log: true, metrics: [downtimeP99Ms, wastedMiB] }',
    'Axes: policy, workload.KEY, or a scenario key:',
    ...wrap(SCENARIO_AXES.join(', '), 104).map((l) => `  ${l}`),
    '',
    'Outputs (in --out): experiment.json, cells.jsonl (one line per finished cell), cells.csv, summary.csv,',
    'summary.md (mean ± 95 % CI over seeds), chart-METRIC.svg/.png, report.html (self-contained).',
    'A rerun skips the cells cells.jsonl already has (keyed by a hash of the resolved cell), so an',
    'interrupted experiment resumes where it stopped. The folder is locked (.lock with the pid) while a run uses it.',
    '',
    'Backends: embedded (default; --jobs worker threads) or stepfunctions: every cell still to run goes to one',
    'execution of a deployed experiment stack (npm run deploy:experiments:local; --stack NAME), its results',
    'collected from S3 into the same folder (docs/experiment.md#the-step-functions-backend).',
    '',
    'Exit codes: as colo run, over every cell of the grid (0 all consistent, 1 bad input, 2 diverged,',
    '3 failed over, 4 a cell measured nothing, 70 internal error, 130 interrupted, 143 SIGTERM: rerun to resume).',
  ].join('\n');
}

/** Where commander writes, and its errors as one `colo: …; see colo COMMAND --help` line. */
function outputOf(io: CliIo, command: string) {
  return {
    writeOut: io.stdout,
    writeErr: io.stderr,
    outputError: (text: string, write: (s: string) => void) => {
      const one = text
        .replace(/^error: /, '')
        .replace(/\n\(Did you mean (.*)\?\)/, ' (did you mean $1?)')
        .trim()
        .replace(/\.$/, '');
      write(`colo: ${escapeControls(one)}; see colo ${command} --help\n`);
    },
  };
}

/** Builds the `colo` program; `action` receives the parsed `run` options, `experiment` the experiment's. */
function program(
  io: CliIo,
  action: (opts: Record<string, unknown>) => Promise<void>,
  experiment: (file: string, opts: ExperimentFlags) => Promise<void> = async () => {},
  vmDone: (code: number) => void = () => {},
): Command {
  const root = new Command()
    .name('colo')
    .description('COLO VM replication with background migration of dirty RAM, emulated.')
    .version(version(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    // `colo -V` only: after a command, `-V` is that command's (a value such as `--policy -V` is refused as
    // a bad policy, not answered with the version). Commander reads program options anywhere by default.
    .enablePositionalOptions()
    .exitOverride()
    .configureHelp({ helpWidth: 110 })
    .configureOutput(outputOf(io, 'run'));
  const run = root
    .command('run')
    .description('run a scenario once per policy on the same seed and compare them')
    .helpOption('-h, --help', 'show help')
    .configureHelp({ helpWidth: 110 });
  for (const o of RUN_OPTIONS) {
    const desc = o.default !== undefined ? `${o.help} (default: ${o.default})` : o.help;
    run.addOption(new Option(`--${o.flag}${o.arg ? ` ${o.arg}` : ''}`, desc));
  }
  run.addHelpText('after', runHelpAfter()).action(action);
  root
    .command('experiment')
    .description('run a grid of scenarios × seeds and write its tables, charts and report')
    .argument('<file>', 'experiment file (YAML or JSON)')
    .helpOption('-h, --help', 'show help')
    .configureHelp({ helpWidth: 110 })
    .option('--out <dir>', 'output folder (default: results/<name> beside the file)')
    .option('--jobs <n>', 'cells run at once, on worker threads (default: the cores)')
    .option('--dry-run', 'list the cells, which are done and which would run; run nothing')
    .option('--no-png', 'skip the PNG copies of the charts')
    .option('--quiet', 'no progress on stderr (warnings still)')
    .option(
      '--backend <name>',
      'where cells run: embedded (worker threads) or stepfunctions (a deployed stack)',
    )
    .option('--stack <name>', 'experiment stack of --backend stepfunctions (default: ColoExperiments)')
    .option(
      '--endpoint <url>',
      'emulator endpoint of --backend stepfunctions (default: AWS_ENDPOINT_URL, else AWS)',
    )
    .configureOutput(outputOf(io, 'experiment'))
    .addHelpText('after', experimentHelpAfter())
    .action(experiment);
  root
    .command('cost')
    .description('price again the AWS usage a `colo run --backend localstack --json` report measured')
    .argument('<report>', 'report file written by colo run --backend localstack --json')
    .helpOption('-h, --help', 'show help')
    .option('--prices <file>', 'price file (default: src/cost/prices-2026-11.json)')
    .option('--vms-per-deployment <n>', "VMs sharing one deployment's fixed costs (default: 1)")
    .option('--arm64', 'price Lambda duration at the arm64 rate')
    .option(
      '--ms-per-invocation <ms>',
      'assume this billed duration per invocation instead of the measured one',
    )
    .option('--json', 'print the cost section as JSON')
    .configureOutput(outputOf(io, 'cost'))
    .action((report: string, opts: CostFlags) => {
      for (const line of costCommand(report, opts).lines) io.stdout(`${line}\n`);
    });
  addVmCommand(
    root,
    {
      stdout: io.stdout,
      stderr: io.stderr,
      ...(io.env ? { env: io.env } : {}),
      ...(io.onInterrupt ? { onInterrupt: io.onInterrupt } : {}),
      ...(io.exit ? { exit: io.exit } : {}),
    },
    vmDone,
  );
  // `colo vm …` usage errors point at the vm help, not run's (commander copied run's output settings).
  const vm = root.commands.find((c) => c.name() === 'vm');
  for (const c of vm ? [vm, ...vm.commands] : []) c.configureOutput(outputOf(io, 'vm'));
  return root;
}

/** `colo run --help` as it prints (the README shows it; a test keeps the two equal). */
export async function runHelpText(): Promise<string> {
  let out = '';
  await runCli(['run', '--help'], {
    stdout: (t) => (out += t),
    stderr: () => {},
    stderrIsTTY: false,
    now: () => 0,
  });
  return out;
}

/** Lines of a known input error, each to be printed as `colo: …`; undefined for anything else. */
function inputErrorLines(e: unknown): string[] | undefined {
  if (
    e instanceof ScenarioError ||
    e instanceof BackendError ||
    e instanceof OutputError ||
    e instanceof UnitError ||
    e instanceof WorkloadError ||
    e instanceof FaultSpecError ||
    e instanceof ExperimentError ||
    e instanceof CostInputError ||
    e instanceof PriceFileError ||
    isVmInputError(e)
  ) {
    return e.message.split('\n').filter((l) => l.trim() !== '');
  }
  return undefined;
}

/**
 * Runs `colo` with `argv` (the arguments after the program name) and returns the exit code (see
 * {@link EXIT}). Writes only through `io`.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let code: number = EXIT.ok;
  const say = (line: string) => io.stderr(`${line}\n`);
  const prog = program(
    io,
    async (raw) => {
      code = await runCommand(raw as RunFlags & BackendFlags & RunSwitches, io);
    },
    async (file, opts) => {
      code = await experimentCommand(file, opts, {
        ...io,
        cellRunner: io.cellRunner ?? (() => inProcessCellRunner()),
      });
    },
    (c) => {
      code = c;
    },
  );
  try {
    await prog.parseAsync(['node', 'colo', ...argv]);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    const lines = inputErrorLines(e);
    if (lines) {
      // A line quotes what it refuses: a newline or an escape sequence in it stays text, on one line.
      for (const l of lines) say(`colo: ${escapeControls(l)}`);
      return EXIT.usage;
    }
    say(
      `colo: internal error: ${escapeControls(e instanceof Error ? e.message : String(e))} (COLO_DEBUG=1 shows the stack)`,
    );
    if (io.env?.COLO_DEBUG === '1' && e instanceof Error && e.stack) say(e.stack);
    return EXIT.internal;
  }
  return code;
}

/** Switches and output options of `colo run`. */
interface RunSwitches {
  json?: string;
  timeline?: string;
  trace?: string;
  quiet?: boolean;
  dryRun?: boolean;
}

async function runCommand(opts: RunFlags & BackendFlags & RunSwitches, io: CliIo): Promise<number> {
  const backend = chooseBackend(opts);
  if (opts.endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(opts.endpoint)) {
    throw new ScenarioError(
      `--endpoint: "${opts.endpoint}" is not an http(s) URL, e.g. http://127.0.0.1:4566`,
    );
  }
  if (opts.json !== undefined) checkOutputPath('--json', opts.json);
  const record = recordRequestOf(opts);
  checkDistinctOutputs(opts);
  const warn = (w: string) => io.stderr(`colo: warning: ${w}\n`);
  if (backend === 'localstack') {
    for (const flag of ['timeline', 'trace'] as const) {
      if (opts[flag] !== undefined)
        throw new ScenarioError(
          `--${flag} is for the embedded backend (a deployed stack logs its own trace)`,
        );
    }
    if (opts.dryRun)
      throw new ScenarioError(
        '--dry-run is for the embedded backend (a deployed stack has its own parameters)',
      );
    const say = opts.quiet ? undefined : (line: string) => io.stderr(`${line}\n`);
    const report = await runLocalStackCommand(opts, say);
    for (const r of report.runs) r.verdict = verdictOf(r);
    return finish(report, opts, io);
  }
  const file = opts.scenario ? fileLayer(opts.scenario, readScenarioFile(opts.scenario)) : undefined;
  const scenario = resolveScenario(file, flagsToScenario(opts));
  const figures = figuresOf(scenario);
  const warnings = planWarnings(scenario, figures);
  if (opts.dryRun) {
    const text = `${renderPlan(scenario, figures, warnings)}\n`;
    if (opts.json === '-') {
      io.stdout(
        `${JSON.stringify({ version: REPORT_VERSION, dryRun: true, scenario, figures, warnings }, null, 2)}\n`,
      );
      io.stderr(text);
    } else {
      io.stdout(text);
      if (opts.json !== undefined) {
        writeOutput(
          '--json',
          opts.json,
          `${JSON.stringify({ version: REPORT_VERSION, dryRun: true, scenario, figures, warnings }, null, 2)}\n`,
        );
      }
    }
    return EXIT.ok;
  }
  for (const w of warnings) warn(w);

  const runner = io.runner ?? inProcessRunner;
  const runs: PolicyReport[] = [];
  const recordings: Recording[] = [];
  let interrupted = false;
  let signal = 'SIGINT' as StopSignal;
  let current: { cancel: () => void } | undefined;
  // Kept until the outputs are written: a signal then lets them finish, and the exit code says it came.
  const off = io.onInterrupt?.((s) => {
    interrupted = true;
    signal = s ?? 'SIGINT';
    current?.cancel();
  });
  const start = io.now();
  let lastStep = -1;
  try {
    for (const [index, policy] of scenario.policies.entries()) {
      if (interrupted) break;
      const progress = (fraction: number) => {
        if (opts.quiet) return;
        // On a terminal redraw one line; in logs print every quarter.
        const step = io.stderrIsTTY ? Math.floor(fraction * 20) : Math.floor(fraction * 4);
        if (step === lastStep && fraction < 1) return;
        lastStep = fraction >= 1 ? -1 : step;
        const line = progressLine({
          policy,
          index,
          count: scenario.policies.length,
          fraction,
          elapsedMs: io.now() - start,
          simulatedMs: scenario.durationMs,
        });
        io.stderr(io.stderrIsTTY ? `\r${line}\x1b[K${fraction >= 1 ? '\n' : ''}` : `${line}\n`);
      };
      const job = runner(scenario, policy, progress, record);
      current = job;
      try {
        const { recording, ...run } = await job.result;
        runs.push(run);
        if (recording) recordings.push(recording);
      } catch (e) {
        if (interrupted) break;
        throw e;
      }
    }
  } catch (e) {
    off?.();
    throw e;
  }
  const report = newReport(scenario, runs, warnings);
  const stoppedRuns = interrupted;
  if (interrupted) {
    if (io.stderrIsTTY && !opts.quiet) io.stderr('\n');
    const notRun = scenario.policies.slice(runs.length);
    report.interrupted = { notRun };
    io.stderr(
      `colo: ${stopWord(signal)}: ${runs.length ? `finished ${runs.map((r) => r.policy).join(', ')}` : 'no policy finished'}; ` +
        `not run: ${notRun.join(', ')}\n`,
    );
  }
  let code: number;
  try {
    await writeRecordings(
      recordings,
      opts,
      scenario.name,
      opts.quiet ? undefined : (l) => io.stderr(`${l}\n`),
    );
    code = finish(report, opts, io);
  } finally {
    off?.();
  }
  if (interrupted && !stoppedRuns)
    io.stderr(`colo: ${stopWord(signal)} while writing the outputs: every policy finished and was written\n`);
  return interrupted ? (signal === 'SIGTERM' ? EXIT.terminated : EXIT.interrupted) : code;
}

/** What `--timeline` and `--trace` ask the runs to record; checks their paths before anything runs. */
function recordRequestOf(opts: RunSwitches): RecordRequest | undefined {
  if (opts.timeline === undefined && opts.trace === undefined) return undefined;
  // Neither goes to stdout: say so for "-" and "" alike (checkOutputPath would offer - for an empty path).
  for (const flag of ['trace', 'timeline'] as const) {
    const path = opts[flag];
    if (path === '-' || path?.trim() === '')
      throw new OutputError(
        `--${flag}: name a file (${path === '-' ? '- is not supported: it cannot go to stdout' : 'the path is empty'})`,
      );
  }
  if (opts.timeline !== undefined) {
    if (!/\.(svg|png)$/i.test(opts.timeline))
      throw new OutputError(`--timeline: ${opts.timeline}: name an .svg or a .png file`);
    checkOutputPath('--timeline', opts.timeline);
  }
  if (opts.trace !== undefined) checkOutputPath('--trace', opts.trace);
  return { timeline: opts.timeline !== undefined, trace: opts.trace !== undefined };
}

/**
 * Refuses two outputs on one file (the later write would replace the earlier without a word).
 *
 * @throws OutputError naming both flags.
 */
function checkDistinctOutputs(opts: RunSwitches): void {
  const seen = new Map<string, string>();
  for (const flag of ['json', 'timeline', 'trace'] as const) {
    const path = opts[flag];
    if (path === undefined || path === '-') continue;
    const other = seen.get(resolve(path));
    if (other) throw new OutputError(`--${flag}: ${path} is also the ${other} file; name another`);
    seen.set(resolve(path), `--${flag}`);
  }
}

/** Prints the table and the run warnings, writes the JSON report; returns the exit code of the runs. */
function finish(report: RunReport, opts: RunSwitches, io: CliIo): number {
  const table = report.runs.length ? `${renderTable(report)}\n` : '';
  const toStdout = opts.json === '-';
  if (toStdout) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  if (table) (toStdout ? io.stderr : io.stdout)(table);
  for (const r of report.runs) for (const w of r.warnings ?? []) io.stderr(`colo: warning: ${w}\n`);
  if (opts.json !== undefined && !toStdout) {
    writeOutput('--json', opts.json, `${JSON.stringify(report, null, 2)}\n`);
    if (!opts.quiet) io.stderr(`report written to ${opts.json}\n`);
  }
  return exitCodeOf(report.runs);
}
