/**
 * `npm run experiments`: runs the shipped experiments (experiments/*.yaml) with `colo experiment` on worker
 * threads, then rewrites docs/experiments.md with their charts and a reading of them.
 *
 *   npm run experiments                        every experiment from scratch (earlier results removed)
 *   npm run experiments -- --resume            keep finished cells (only valid when the engine has not changed)
 *   npm run experiments -- --only link-sweep   run one, rewrite the page from the others' results on disk
 *   npm run experiments -- --page-only         rewrite the page from the results on disk, run nothing
 *   npm run experiments -- --only scale        only the scale measurements (experiments/scale.ts)
 *   npm run experiments -- --only fleet-localstack [--fleet-vms N]   only the fleet on LocalStack
 *   npm run experiments -- --skip-localstack   everything but the fleet on LocalStack (its result on disk is kept)
 *
 * After the experiments it measures how the emulator scales with guest size and fleet size, each in a process
 * of its own (experiments/scale.ts → experiments/results/scale.json), which the page reads. Last, the fleet on
 * LocalStack (experiments/fleet-localstack.ts): 1, 5 and 20 VMs (up to N with --fleet-vms) on one deployed
 * stack, on the LocalStack at LOCALSTACK_PORT (default 4566), started for the run and stopped after when none
 * answers there.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCli } from '../src/cli/main.ts';
import { onSigint } from '../src/cli/sigint.ts';
import { workerCellRunner } from '../src/experiment/pool.ts';
import { renderChart } from '../src/report/chart.ts';
import { DEFAULT_FLEET_VMS, MAX_FLEET_VMS, runFleetLocalStack } from './fleet-localstack.ts';
import { FLEET_LOCALSTACK_CHARTS, fleetLocalStackSpecs } from './fleet-localstack-page.ts';
import { FLEET_LOCALSTACK, FLEET_LOCALSTACK_FILE, readFleetLocalStack } from './fleet-localstack-results.ts';
import { experimentsPage } from './page.ts';
import { readScale } from './scale-results.ts';
import { type Finished, readFinishedWithTime, runFile, SHIPPED, shippedDir, shippedFile } from './shipped.ts';

const die = (line: string): never => {
  console.error(`experiments: ${line}`);
  process.exit(1);
};
const { values } = (() => {
  try {
    return parseArgs({
      options: {
        resume: { type: 'boolean', default: false },
        only: { type: 'string' },
        'page-only': { type: 'boolean', default: false },
        'skip-localstack': { type: 'boolean', default: false },
        'fleet-vms': { type: 'string' },
      },
    });
  } catch (e) {
    return die(e instanceof Error ? (e.message.split('\n')[0] ?? e.name) : String(e));
  }
})();
const only = values.only?.split(',');
const EXTRA = ['scale', FLEET_LOCALSTACK];
const unknown = only?.filter((n) => !EXTRA.includes(n) && !(SHIPPED as readonly string[]).includes(n));
if (unknown?.length)
  die(`unknown experiment ${unknown.join(', ')}: use ${[...SHIPPED, ...EXTRA].join(', ')}`);
const skipLocalStack = values['skip-localstack'] === true;
if (skipLocalStack && only?.includes(FLEET_LOCALSTACK))
  die(`--skip-localstack and --only ${FLEET_LOCALSTACK} contradict each other`);
const fleetVmsArg = values['fleet-vms'];
const fleetVms =
  fleetVmsArg === undefined
    ? DEFAULT_FLEET_VMS
    : /^\d+$/.test(fleetVmsArg)
      ? Number(fleetVmsArg)
      : Number.NaN;
if (!Number.isSafeInteger(fleetVms) || fleetVms < 1 || fleetVms > MAX_FLEET_VMS)
  die(`--fleet-vms must be an integer in [1, ${MAX_FLEET_VMS}], got ${fleetVmsArg}`);

if (!values['page-only']) {
  for (const name of SHIPPED.filter((n) => !only || only.includes(n))) {
    if (!values.resume) rmSync(shippedDir(name), { recursive: true, force: true });
    const t0 = performance.now();
    const code = await runCli(['experiment', shippedFile(name)], {
      stdout: (t) => process.stdout.write(t),
      stderr: (t) => process.stderr.write(t),
      stderrIsTTY: process.stderr.isTTY === true,
      now: () => performance.now(),
      env: process.env,
      cellRunner: (jobs) => workerCellRunner(jobs),
      onInterrupt: onSigint,
    });
    if (code !== 0) {
      console.error(`experiments: ${name} ended with exit code ${code}; docs/experiments.md not rewritten`);
      process.exit(code);
    }
    // The page reports the time of a whole run from scratch (a resumed run's time says nothing).
    if (!values.resume)
      writeFileSync(runFile(name), `${JSON.stringify({ wallMs: Math.round(performance.now() - t0) })}\n`);
  }
  if (!only || only.includes('scale'))
    execFileSync(process.execPath, ['--import', 'tsx', 'experiments/scale.ts'], { stdio: 'inherit' });
  if (!skipLocalStack && (!only || only.includes(FLEET_LOCALSTACK))) {
    try {
      await runFleetLocalStack({ vms: fleetVms, resume: values.resume === true });
    } catch (e) {
      die(
        `${FLEET_LOCALSTACK}: ${e instanceof Error ? (e.message.split('\n')[0] ?? e.name) : String(e)}; docs/experiments.md not rewritten`,
      );
    }
  }
}

const results: Record<string, Finished> = {};
let total = 0;
for (const name of SHIPPED) {
  const f = readFinishedWithTime(name);
  if (f.finished < f.experiment.cells.length) {
    console.error(
      `experiments: ${name} has ${f.finished} of ${f.experiment.cells.length} cells: run it first`,
    );
    process.exit(1);
  }
  total += f.wallMs ?? 0;
  results[name] = f;
  mkdirSync('docs/img/experiments', { recursive: true });
  const files = f.experiment.chart.metrics.flatMap((m) =>
    ['png', 'svg'].map((ext) => [`chart-${m}.${ext}`, `${name}-${m}.${ext}`]),
  );
  if (name === 'threshold-sweep') files.push(['timeline.png', `${name}-timeline.png`]);
  for (const [from, to] of files) {
    const source = join(shippedDir(name), from ?? '');
    const target = join('docs/img/experiments', to ?? '');
    // The PNGs are not committed with the results (a rerun rebuilds them): a page-only rewrite in a fresh
    // checkout keeps the committed copy.
    if (existsSync(source)) copyFileSync(source, target);
    else if (!existsSync(target)) {
      console.error(`experiments: ${source} is missing and so is ${target}: rerun ${name}`);
      process.exit(1);
    }
  }
}
// The LocalStack fleet: its charts are drawn from its result (no report folder of its own). A run that skips
// it keeps the result on disk; without one the page has no such section.
let fleetLocalStack: ReturnType<typeof readFleetLocalStack>;
try {
  fleetLocalStack = readFleetLocalStack();
} catch (e) {
  die(e instanceof Error ? e.message : String(e));
}
if (fleetLocalStack) {
  const specs = fleetLocalStackSpecs(fleetLocalStack);
  for (const c of FLEET_LOCALSTACK_CHARTS)
    await renderChart(specs[c], join('docs/img/experiments', `${FLEET_LOCALSTACK}-${c}`));
} else if (!skipLocalStack) {
  die(
    `${FLEET_LOCALSTACK_FILE} is missing: run npm run experiments -- --only ${FLEET_LOCALSTACK} (or --skip-localstack)`,
  );
}
writeFileSync('docs/experiments.md', experimentsPage(results, total, readScale(), fleetLocalStack));
console.log(
  `docs/experiments.md written (${SHIPPED.length} experiments, ${(total / 60_000).toFixed(1)} min of runs)`,
);
