#!/usr/bin/env -S npx tsx
import { readFileSync, writeFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { type BackendFlags, chooseBackend, runLocalStackCommand } from '../src/cli/backend.ts';
import { FAULT_EXAMPLE, FAULT_KEYS } from '../src/cli/fault-spec.ts';
import { flagsToScenario, type RunFlags } from '../src/cli/flags.ts';
import { type RunReport, renderTable } from '../src/cli/report.ts';
import { runScenario } from '../src/cli/run-command.ts';
import { resolveScenario, ScenarioError } from '../src/cli/scenario.ts';
import { BackendError } from '../src/runtime/localstack/aws.ts';

function readScenarioFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ScenarioError(`cannot read scenario file ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new ScenarioError(`scenario file ${path} is not valid JSON: ${(e as Error).message}`);
  }
}

const program = new Command()
  .name('colo')
  .description('COLO VM replication with background migration of dirty RAM, emulated.')
  .showHelpAfterError()
  .exitOverride();

program
  .command('run')
  .description('run a scenario once per policy on the same seed and compare them')
  .option('--scenario <file>', 'scenario file (JSON); flags override its keys')
  .option('--policy <list>', 'policies to compare, comma-separated: none, fixed, adaptive', undefined)
  .option('--seed <n>', 'seed for workloads and page contents')
  .option('--duration <time>', 'simulated time, e.g. 100s, 10m')
  .option('--guest <size>', 'guest RAM, e.g. 1GiB')
  .option('--workload <spec>', 'kind[:key=value,...], e.g. hotcold:hotPages=4096,hotRate=4000,coldRate=2500')
  .option('--secondary <mode>', 'passive, or running[/workload spec] (the SVM executes between checkpoints)')
  .option('--miscompare-rate <n>', 'output divergences per second of guest time')
  .option('--checkpoint-delay <time>', 'periodic checkpoint delay (x-checkpoint-delay), default 20s')
  .option('--pending-check <time>', 'pending-RAM check period, default 1s')
  .option('--threshold <size>', 'pending RAM that triggers a background round (fixed policy), default 100MiB')
  .option('--apply-timeout <time>', 'deadline for every secondary wait, default 5s')
  .option('--bandwidth <rate>', 'link bandwidth, e.g. 1Gbit, 10Gbit, 100MiB/s')
  .option('--latency <time>', 'one-way link latency, e.g. 0.1ms')
  .option('--payload <mode>', 'materialised (real bytes, verified) or modelled (bytes counted)')
  .option('--device-state <size>', 'device state per checkpoint, default 256KiB')
  .option(
    '--faults <spec>',
    'seeded faults as SQS, S3 and Lambda produce them, key=value,... (keys below); embedded backend only',
  )
  .option('--json <file>', 'write the machine-readable report (docs/report-format.md)')
  .option('--quiet', 'no progress on stderr')
  .option(
    '--backend <name>',
    'embedded (default: virtual clock, modelled link) or localstack (a deployed stack)',
  )
  .option('--stack <name>', 'localstack: stack to run (outputs from CloudFormation), default ColoServerless')
  .option('--outputs <file>', 'localstack: stack outputs file written by `npm run deploy:local`')
  .option('--endpoint <url>', 'localstack: endpoint, default AWS_ENDPOINT_URL or http://127.0.0.1:4566')
  .addHelpText(
    'after',
    [
      '',
      '--faults SPEC: comma-separated key=value; P is a per-message probability, 1% or 0.01; durations',
      "take units (250ms, 2s, 1m; a bare number is ms); a range A-B whose A has no unit takes B's.",
      ...Object.entries(FAULT_KEYS).map(([k, v]) => `  ${k.padEnd(13)} ${v}`),
      '',
      'Example:',
      `  colo run --policy fixed --duration 2m --faults ${FAULT_EXAMPLE}`,
      '',
      'A run whose replicas diverged exits with 2; a run that ended in a fenced failover with a',
      'consistent committed image exits with 0 and reports which side won, when and why (outcome).',
    ].join('\n'),
  )
  .action(async (opts: RunFlags & BackendFlags & { json?: string; quiet?: boolean }) => {
    if (chooseBackend(opts) === 'localstack') {
      const say = opts.quiet ? undefined : (line: string) => process.stderr.write(`${line}\n`);
      finish(await runLocalStackCommand(opts, say), opts);
      return;
    }
    const file = opts.scenario ? readScenarioFile(opts.scenario) : undefined;
    const scenario = resolveScenario(file, flagsToScenario(opts));
    const tty = process.stderr.isTTY === true;
    let last = -1;
    const progress = (policy: string, f: number) => {
      if (opts.quiet) return;
      // On a terminal redraw one line; in logs print every quarter.
      const step = tty ? Math.floor(f * 20) : Math.floor(f * 4);
      if (step === last && f < 1) return;
      last = f >= 1 ? -1 : step;
      const line = `[${policy}] ${(f * 100).toFixed(0)}% of ${(scenario.durationMs / 1000).toFixed(0)} s simulated`;
      process.stderr.write(tty ? `\r${line}${f >= 1 ? '\n' : ''}` : `${line}\n`);
    };
    finish(runScenario(scenario, { progress }), opts);
  });

/** Prints the table, writes the JSON report, sets exit code 2 when a run did not verify. */
function finish(report: RunReport, opts: { json?: string; quiet?: boolean }): void {
  process.stdout.write(`${renderTable(report)}\n`);
  if (opts.json) {
    writeFileSync(opts.json, `${JSON.stringify(report, null, 2)}\n`);
    if (!opts.quiet) process.stderr.write(`report written to ${opts.json}\n`);
  }
  if (report.runs.some((r) => !r.verification.consistent)) process.exitCode = 2;
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 1);
  if (e instanceof ScenarioError || e instanceof BackendError) {
    process.stderr.write(`colo: ${e.message}\n`);
    process.exit(1);
  }
  throw e;
}
