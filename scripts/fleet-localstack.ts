/**
 * `npm run fleet:localstack -- [N] [options]`: a fleet of N VMs (default 100) on ONE deployed stack on
 * LocalStack. Steps through fleet sizes 1, 10, N: adds VMs with `colo vm add`'s code, lets every VM of the
 * step run on the stack's own wall-clock timers (the shared tick queues and the one watchdog rule; no
 * virtual-clock stepper) until each has K new commits, and records the per-VM checkpoint latency (request
 * → vmstate-loaded, the primary's messageMs + downtimeMs) percentiles and the memory of this LocalStack
 * and of its function processes (sampled at every poll; the peak is kept). Then stops every VM and
 * verifies each (every commit = its PVM at that stop; nothing lost, refused or dead-lettered); reads the
 * functions' `aws usage` records of the last step's window (all N VMs running) back from CloudWatch Logs
 * for the requests and bytes per VM-hour and the cost per VM-month (src/cost); writes the figures between
 * the fleet markers of docs/cloud.md.
 *
 * Options: --stack NAME (default FleetBench), --commits K (3), --timeout-min M per step (30), --pollers P
 * (event-source mappings per channel when the script deploys; 8), --tick-pollers P (per tick queue when
 * the script deploys; 2: LocalStack runs one invocation per mapping at a time), --checkpoint-s, --pending-s,
 * --heartbeat-s (VM periods: 120, 60, 120), --apply-timeout-s (120; the primary's checkpoint timeout is
 * twice it), --no-docs, --report FILE (only the report phase, from the JSON a run saved under out/).
 * A step ends when every VM has K new commits or has failed over (both are reported), or at its timeout.
 *
 * The stack is deployed first when it does not exist (with the apply-timeout cap and pollers above); the
 * deploy's own VM is stopped so that only this run's VMs load the stack. The endpoint follows
 * `AWS_ENDPOINT_URL`, else `LOCALSTACK_PORT`, else 127.0.0.1:4566.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { clientsFor, endpointFromEnv } from '../src/runtime/localstack/aws.ts';
import { type FleetRunRecord, runFleetBench } from '../src/runtime/localstack/fleet-bench.ts';
import { fleetReport } from '../src/runtime/localstack/fleet-report.ts';

function die(line: string): never {
  process.stderr.write(`fleet-localstack: ${line}\n`);
  process.exit(1);
}
const USAGE = `usage: npm run fleet:localstack -- [N] [--stack NAME] [--commits K] [--timeout-min M] [--pollers P]
       [--tick-pollers P] [--checkpoint-s S] [--pending-s S] [--heartbeat-s S] [--apply-timeout-s S] [--no-docs] [--report FILE]
  N VMs (default 100, at most 1000) on one stack on LocalStack, stepping through 1, 10, N (scripts/fleet-localstack.ts)`;
const VALUE_FLAGS = [
  'stack',
  'commits',
  'timeout-min',
  'pollers',
  'tick-pollers',
  'checkpoint-s',
  'pending-s',
  'heartbeat-s',
  'apply-timeout-s',
  'report',
] as const;
// Strict: an unknown flag or a flag without its value is refused before anything is deployed.
const parsed = (() => {
  try {
    return parseArgs({
      args: process.argv.slice(2),
      allowPositionals: true,
      strict: true,
      options: {
        ...Object.fromEntries(VALUE_FLAGS.map((f) => [f, { type: 'string' as const }])),
        'no-docs': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    return die(`${e instanceof Error ? e.message.split('\n')[0] : String(e)} (--help shows the usage)`);
  }
})();
if (parsed.values.help === true) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (parsed.positionals.length > 1) die(`one N at most, got ${parsed.positionals.join(' ')}`);
const nArg = parsed.positionals[0];
const N = nArg === undefined ? 100 : /^\d+$/.test(nArg) ? Number(nArg) : Number.NaN;
if (!Number.isSafeInteger(N) || N < 1 || N > 1000) die(`N must be an integer in [1, 1000], got ${nArg}`);
const flag = (name: (typeof VALUE_FLAGS)[number]): string | undefined => {
  // The value flags are built from VALUE_FLAGS, which parseArgs's types do not follow.
  const v = (parsed.values as Record<string, string | boolean | undefined>)[name];
  if (typeof v === 'string' && (v === '' || v.startsWith('--'))) die(`--${name} needs a value, got "${v}"`);
  return typeof v === 'string' ? v : undefined;
};
/** An integer flag in [min, max], or its default. */
const intFlag = (name: (typeof VALUE_FLAGS)[number], fallback: number, min: number, max: number): number => {
  const raw = flag(name);
  const v = raw === undefined ? fallback : /^\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(v) || v < min || v > max)
    die(`--${name} must be an integer in [${min}, ${max}], got ${raw}`);
  return v;
};
const say = (line: string): void => {
  process.stderr.write(`fleet-localstack: ${line}\n`);
};
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// A bad LOCALSTACK_PORT is one line, like any other bad input.
const clients = (() => {
  try {
    return clientsFor(endpointFromEnv());
  } catch (e) {
    return die(e instanceof Error ? e.message : String(e));
  }
})();
const port = Number(new URL(clients.endpoint.url).port || '4566');

async function runFleet(): Promise<FleetRunRecord> {
  const stackName = flag('stack') ?? 'FleetBench';
  const commits = intFlag('commits', 3, 1, 100);
  const stepTimeoutMs = intFlag('timeout-min', 30, 1, 600) * 60_000;
  /**
   * Event-source mappings per FIFO channel when the stack is deployed here (context channelPollers):
   * LocalStack polls each mapping in one thread that invokes a batch's VMs one after another, then waits 1 s.
   */
  const pollers = intFlag('pollers', 8, 1, 8);
  /** Mappings per tick queue when deployed here: a long pulse then does not hold the next one back. */
  const tickPollers = intFlag('tick-pollers', 2, 1, 8);
  const vm = {
    checkpointS: intFlag('checkpoint-s', 120, 1, 3600),
    pendingS: intFlag('pending-s', 60, 1, 3600),
    heartbeatS: intFlag('heartbeat-s', 120, 1, 3600),
    /**
     * Apply deadline: LocalStack's event sources serve a fleet's groups in turn on a shared, loaded
     * machine, so one checkpoint hop can wait behind many VMs' (15 s was enough for 10 VMs, not for 100).
     */
    applyTimeoutS: intFlag('apply-timeout-s', 120, 1, 840),
  };
  const record = await runFleetBench({
    clients,
    port,
    stackName,
    steps: [...new Set([1, 10, N].filter((n) => n <= N))],
    commits,
    stepTimeoutMs,
    pollers,
    tickPollers,
    vm,
    say,
    sleep,
    now: Date.now,
  });
  mkdirSync('out', { recursive: true });
  const path = `out/fleet-${stackName}-${record.run}.json`;
  writeFileSync(path, `${JSON.stringify(record, null, 2)}\n`);
  say(`run saved to ${path} (npm run fleet:localstack -- --report ${path} redoes the report)`);
  return record;
}

/** A run record read back for `--report`, checked enough that the report cannot trip over it. */
function readRunRecord(path: string): FleetRunRecord {
  let rec: unknown;
  try {
    rec = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return die(
      `--report ${path}: ${code === 'ENOENT' ? 'does not exist' : e instanceof Error ? e.message.split('\n')[0] : String(e)}`,
    );
  }
  const r = rec as Partial<FleetRunRecord> | null;
  const ok =
    typeof r === 'object' &&
    r !== null &&
    typeof r.startedAt === 'string' &&
    typeof r.stackName === 'string' &&
    Array.isArray(r.steps) &&
    Array.isArray(r.vmIds) &&
    Array.isArray(r.functionNames) &&
    typeof r.final === 'object' &&
    r.final !== null &&
    typeof r.window === 'object' &&
    r.window !== null &&
    typeof r.vm === 'object' &&
    r.vm !== null;
  if (!ok) die(`--report ${path}: not a run record saved by this script (out/fleet-<stack>-<run>.json)`);
  return rec as FleetRunRecord;
}

const reportFrom = flag('report');
let rec: FleetRunRecord;
try {
  rec = reportFrom ? readRunRecord(reportFrom) : await runFleet();
} catch (e) {
  // Expected failures (LocalStack down, a deploy that failed and said why) are one line, no stack.
  die(e instanceof Error ? (e.message.split('\n')[0] ?? e.name) : String(e));
}
const table = await fleetReport(clients, rec);
process.stdout.write(`${table}\n`);
if (parsed.values['no-docs'] !== true) {
  const path = 'docs/cloud.md';
  const doc = readFileSync(path, 'utf8');
  const begin = '<!-- fleet:begin -->';
  const end = '<!-- fleet:end -->';
  const i = doc.indexOf(begin);
  const j = doc.indexOf(end);
  if (i < 0 || j < i) {
    say(`${path} has no ${begin} … ${end} markers; figures printed only`);
  } else {
    writeFileSync(path, `${doc.slice(0, i + begin.length)}\n${table}\n${doc.slice(j)}`);
    say(`figures written to ${path}`);
  }
}
process.exit(rec.final.consistent === rec.vmIds.length ? 0 : 1);
