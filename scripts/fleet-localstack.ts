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
 * (event-source mappings per channel when the script deploys; 8), --checkpoint-s, --pending-s,
 * --heartbeat-s (VM periods: 120, 60, 120), --apply-timeout-s (120; the primary's checkpoint timeout is
 * twice it), --no-docs, --report FILE (only the report phase, from the JSON a run saved under out/).
 * A step ends when every VM has K new commits or has failed over (both are reported), or at its timeout.
 *
 * The stack is deployed first when it does not exist (with the apply-timeout cap and pollers above); the
 * deploy's own VM is stopped so that only this run's VMs load the stack. The endpoint follows
 * `AWS_ENDPOINT_URL`, else `LOCALSTACK_PORT`, else 127.0.0.1:4566.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { S3StateStore } from '../lambda/adapters/s3-state-store.ts';
import { readControl } from '../lambda/handlers/common/control.ts';
import { costPerVmMonth, SINGLE_VM_STACK } from '../src/cost/model.ts';
import { CURRENT_PRICES } from '../src/cost/prices.ts';
import { type VmConfig, validateVmConfig } from '../src/parameters/vm-config.ts';
import { checkLocalStack, clientsFor, endpointFromEnv } from '../src/runtime/localstack/aws.ts';
import { queueDepth, waitQuiet } from '../src/runtime/localstack/backend.ts';
import {
  addFleet,
  commitsOf,
  type FleetVmResult,
  percentile,
  stopVm,
  verifyFleetVm,
} from '../src/runtime/localstack/fleet-run.ts';
import { fleetUsage } from '../src/runtime/localstack/fleet-usage.ts';
import { type MemorySample, peakOf, sampleLocalStack } from '../src/runtime/localstack/process-memory.ts';
import { describeStackOutputs, type StackOutputs } from '../src/runtime/localstack/stack.ts';
import { readLoggedUsage } from '../src/runtime/localstack/usage-logs.ts';

const die = (line: string): never => {
  process.stderr.write(`fleet-localstack: ${line}\n`);
  process.exit(1);
};
const USAGE = `usage: npm run fleet:localstack -- [N] [--stack NAME] [--commits K] [--timeout-min M] [--pollers P]
       [--checkpoint-s S] [--pending-s S] [--heartbeat-s S] [--apply-timeout-s S] [--no-docs] [--report FILE]
  N VMs (default 100, at most 1000) on one stack on LocalStack, stepping through 1, 10, N (scripts/fleet-localstack.ts)`;
const VALUE_FLAGS = [
  'stack',
  'commits',
  'timeout-min',
  'pollers',
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
  const v = parsed.values[name];
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

/** What a run saved for its report (out/fleet-<stack>-<run>.json). */
interface RunRecord {
  stackName: string;
  run: string;
  n: number;
  commits: number;
  pollers: number;
  vm: { checkpointS: number; pendingS: number; heartbeatS: number; applyTimeoutS: number };
  steps: Step[];
  /** The last step's window (every VM running), ms since the epoch. */
  window: { startMs: number; endMs: number };
  /** VMs registered on the stack during the window (this run's and the deploy's own). */
  registered: number;
  vmIds: string[];
  final: { consistent: number; commits: number; dlq: number; quiet: boolean; problems: string[] };
  startedAt: string;
  totalWallS: number;
  functionNames: string[];
}

interface Step {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  checkpoints: number;
  reached: number;
  /** VMs of the step that failed over (their control document), by reason. */
  failedOver: Record<string, number>;
  /** Largest depth seen on each channel queue (visible, in flight and delayed). */
  backlog: { p2s: number; s2p: number };
  wallS: number;
  memory: MemorySample;
}

// A bad LOCALSTACK_PORT is one line, like any other bad input.
const clients = (() => {
  try {
    return clientsFor(endpointFromEnv());
  } catch (e) {
    return die(e instanceof Error ? e.message : String(e));
  }
})();
const port = Number(new URL(clients.endpoint.url).port || '4566');

async function runFleet(): Promise<RunRecord> {
  const stackName = flag('stack') ?? 'FleetBench';
  const K = intFlag('commits', 3, 1, 100);
  const stepTimeoutMs = intFlag('timeout-min', 30, 1, 600) * 60_000;
  /**
   * Event-source mappings per FIFO channel when the stack is deployed here (context channelPollers):
   * LocalStack polls each mapping in one thread that invokes a batch's VMs one after another, then waits 1 s.
   */
  const pollers = intFlag('pollers', 8, 1, 8);
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
  /** VM id prefix of this run: a rerun on the same stack starts fresh VMs. */
  const RUN = `fb${Date.now().toString(36).slice(-4)}`;
  const vmConfig = (i: number): VmConfig =>
    validateVmConfig({
      vmId: `${RUN}-${String(i).padStart(4, '0')}`,
      seed: 1000 + i,
      guestBytes: 4 * 1024 * 1024,
      workload: 'hotcold:hotPages=64,hotRate=40,coldRate=40',
      policy: 'fixed',
      thresholdBytes: 65536,
      checkpointDelayMs: vm.checkpointS * 1000,
      applyTimeoutMs: vm.applyTimeoutS * 1000,
      // The primary's waits inside a checkpoint: as generous as the secondary's (a hop waits behind the fleet).
      checkpointTimeoutMs: 2 * vm.applyTimeoutS * 1000,
      pendingCheckIntervalMs: vm.pendingS * 1000,
      heartbeatIntervalMs: vm.heartbeatS * 1000,
      // Silence this long ends replication: well above a loaded hop and a few heartbeat periods.
      heartbeatTimeoutMs: Math.max(120_000, 5 * vm.heartbeatS * 1000),
    });
  const started = Date.now();

  let outputs: StackOutputs;
  await checkLocalStack(clients.endpoint);
  try {
    outputs = await describeStackOutputs(clients, stackName);
  } catch {
    say(`deploying ${stackName} at ${clients.endpoint.url} (its own VM fb-base is registered by the deploy)`);
    execFileSync(
      'bash',
      [
        'scripts/deploy-local.sh',
        '-c',
        `stackName=${stackName}`,
        '-c',
        'vmId=fb-base',
        '-c',
        `applyTimeoutMs=${vm.applyTimeoutS * 1000}`,
        '-c',
        `channelPollers=${pollers}`,
      ],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, AWS_ENDPOINT_URL: clients.endpoint.url },
      },
    );
    outputs = await describeStackOutputs(clients, stackName);
  }
  if ((outputs.applyTimeoutCapMs ?? 0) < vm.applyTimeoutS * 1000) {
    die(
      `stack ${stackName} caps applyTimeoutMs at ${outputs.applyTimeoutCapMs} ms < --apply-timeout-s ${vm.applyTimeoutS}: use another --stack (the script deploys it)`,
    );
  }
  const r = await clients.cloudformation.send(new DescribeStacksCommand({ StackName: stackName }));
  const json = r.Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === 'ParametersJson')?.OutputValue;
  const pollersOfStack =
    (json ? (JSON.parse(json) as { channelPollers?: number }).channelPollers : undefined) ?? 1;
  say(`stack ${stackName}: ${pollersOfStack} event-source mapping(s) per channel`);
  // The deploy's own VM runs at the stack's default periods: stop it so only this run's VMs load the stack.
  await stopVm(clients, outputs, outputs.vmId);
  const target = { clients, outputs };
  const state = new S3StateStore({ bucket: outputs.bucketName, client: clients.s3 });
  const steps = [...new Set([1, 10, N].filter((n) => n <= N))];
  const results: Step[] = [];
  let added = 0;
  let window = { startMs: 0, endMs: 0 };
  /** Reads `ids`' commit counts, 8 at a time. */
  const commitsOfAll = async (ids: readonly string[]): Promise<Map<string, number>> => {
    const out = new Map<string, number>();
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++] as string;
        out.set(id, await commitsOf(clients, outputs, id));
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, ids.length) }, worker));
    return out;
  };
  for (const n of steps) {
    const configs = Array.from({ length: n - added }, (_, j) => vmConfig(added + j));
    say(`step N=${n}: adding ${configs.length} VMs`);
    const late = await addFleet(target, configs);
    if (late.length > 0) say(`${late.length} VMs will be armed by the minute rule`);
    added = n;
    const ids = Array.from({ length: n }, (_, i) => vmConfig(i).vmId);
    const base = await commitsOfAll(ids);
    const t0 = Date.now();
    let reached = 0;
    let memory = sampleLocalStack(port);
    const backlog = { p2s: 0, s2p: 0 };
    const failedOver = new Map<string, string>();
    while (Date.now() - t0 < stepTimeoutMs) {
      const now = await commitsOfAll(ids);
      const done = ids.filter((id) => (now.get(id) ?? 0) - (base.get(id) ?? 0) >= K);
      reached = done.length;
      // A VM that failed over commits no more: stop waiting for it (it is reported).
      for (const id of ids) {
        if (done.includes(id) || failedOver.has(id)) continue;
        const ctl = await readControl(state, id);
        if (ctl.failedOver) failedOver.set(id, ctl.reason ?? 'failed over');
      }
      backlog.p2s = Math.max(backlog.p2s, await queueDepth(clients, outputs.p2sQueueUrl));
      backlog.s2p = Math.max(backlog.s2p, await queueDepth(clients, outputs.s2pQueueUrl));
      memory = peakOf(memory, sampleLocalStack(port));
      say(
        `N=${n}: ${reached}/${n} VMs have ${K} new commits, ${failedOver.size} failed over (${Math.round((Date.now() - t0) / 1000)} s; ` +
          `channel backlog p2s ${backlog.p2s} s2p ${backlog.s2p} at most; ` +
          `LocalStack ${Math.round(memory.localstackMiB)} MiB, ${memory.functions.count} function processes ${Math.round(memory.functions.totalMiB)} MiB at peak)`,
      );
      if (reached + failedOver.size >= n) break;
      await sleep(Math.max(5000, n * 100));
    }
    const reasons: Record<string, number> = {};
    for (const r of failedOver.values()) {
      const key = r.replace(/after \d+ ms/, 'after its deadline');
      reasons[key] = (reasons[key] ?? 0) + 1;
    }
    window = { startMs: t0, endMs: Date.now() };
    const lat: number[] = [];
    let checkpoints = 0;
    for (const id of ids) {
      const v = await verifyFleetVm(clients, outputs, id, { quiet: true, dlq: 0 });
      // Only this step's checkpoints: the last (new commits) of each VM's log.
      const fresh = v.latenciesMs.slice(base.get(id) ?? 0);
      lat.push(...fresh);
      checkpoints += fresh.length;
    }
    const step: Step = {
      n,
      p50: percentile(lat, 50),
      p95: percentile(lat, 95),
      p99: percentile(lat, 99),
      checkpoints,
      reached,
      failedOver: reasons,
      backlog,
      wallS: Math.round((window.endMs - t0) / 1000),
      memory,
    };
    say(JSON.stringify(step));
    results.push(step);
  }

  say('stopping every VM and verifying each');
  const ids = Array.from({ length: added }, (_, i) => vmConfig(i).vmId);
  for (const id of ids) await stopVm(clients, outputs, id);
  const quiet = await waitQuiet(clients, outputs, ids.at(-1) as string, 300_000, sleep);
  const dlq = (await queueDepth(clients, outputs.p2sDlqUrl)) + (await queueDepth(clients, outputs.s2pDlqUrl));
  const checked: FleetVmResult[] = [];
  for (const id of ids) checked.push(await verifyFleetVm(clients, outputs, id, { quiet, dlq }));
  const bad = checked.filter((x) => !x.verification.consistent);
  const record: RunRecord = {
    stackName,
    run: RUN,
    n: N,
    commits: K,
    pollers: pollersOfStack,
    vm,
    steps: results,
    window,
    registered: added + 1,
    vmIds: ids,
    final: {
      consistent: checked.length - bad.length,
      commits: checked.reduce((a, x) => a + x.commits, 0),
      dlq,
      quiet,
      problems: bad.slice(0, 5).map((x) => `${x.vmId}: ${x.verification.problems.join('; ')}`),
    },
    startedAt: new Date(started).toISOString(),
    totalWallS: Math.round((Date.now() - started) / 1000),
    functionNames: outputs.functionNames,
  };
  for (const p of record.final.problems) say(p);
  say(
    `${record.final.consistent}/${ids.length} VMs consistent, ${record.final.commits} commits verified, ${dlq} dead letters`,
  );
  mkdirSync('out', { recursive: true });
  const path = `out/fleet-${stackName}-${RUN}.json`;
  writeFileSync(path, `${JSON.stringify(record, null, 2)}\n`);
  say(`run saved to ${path} (npm run fleet:localstack -- --report ${path} redoes the report)`);
  return record;
}

const usd = (x: number) => `$${x.toFixed(2)}`;
const fmt = (x: number) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toPrecision(3));
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** The figures of a run: latency and memory per step, usage per VM-hour and cost from the logs. */
async function report(rec: RunRecord): Promise<string> {
  const date = rec.startedAt.slice(0, 10);
  const lines = [
    `Measured ${date} by \`npm run fleet:localstack -- ${rec.n}${rec.stackName === 'FleetBench' ? '' : ` --stack ${rec.stackName}`}\` on stack ${rec.stackName} (LocalStack 4.13.1, host-node executor, its own LocalStack on a 2-core machine shared with other work): ${rec.vmIds.length} VMs (4 MiB guests, fixed policy, checkpoints every ${rec.vm.checkpointS} s, pending checks every ${rec.vm.pendingS} s, heartbeats every ${rec.vm.heartbeatS} s, apply deadline ${rec.vm.applyTimeoutS} s), ${rec.pollers} event-source mapping(s) per channel, **wall-clock timers** (the stack's tick queues and watchdog; no virtual-clock stepper). Final check after stopping every VM: **${rec.final.consistent} of ${rec.vmIds.length} VMs consistent**, ${rec.final.commits} commits verified, ${rec.final.dlq} dead letters${rec.final.quiet ? '' : ' (the stack was not quiet after 5 min)'}. Whole run ${Math.round(rec.totalWallS / 60)} min.`,
    '',
    `| VMs on the stack | VMs with ≥ ${rec.commits} new commits | failed over | checkpoints | latency p50 | p95 | p99 | channel backlog p2s / s2p (max) | LocalStack RSS (peak) | function processes (peak) | their RSS, sum (peak) | largest one | wall |`,
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rec.steps.map(
      (s) =>
        `| ${s.n} | ${s.reached} | ${Object.values(s.failedOver).reduce((a, b) => a + b, 0)} | ${s.checkpoints} | ${Math.round(s.p50)} ms | ${Math.round(s.p95)} ms | ${Math.round(s.p99)} ms | ${s.backlog.p2s} / ${s.backlog.s2p} | ${Math.round(s.memory.localstackMiB)} MiB | ${s.memory.functions.count} | ${Math.round(s.memory.functions.totalMiB)} MiB | ${Math.round(s.memory.functions.maxMiB)} MiB | ${s.wallS} s |`,
    ),
    ...rec.steps.flatMap((s) => {
      const why = Object.entries(s.failedOver);
      return why.length === 0
        ? []
        : [
            '',
            `N = ${s.n}: failed over — ${why.map(([r, k]) => `${k} × "${r}"`).join(', ')} (the fence keeps that safe; the VM stops replicating).`,
          ];
    }),
  ];
  try {
    const windowMs = rec.window.endMs - rec.window.startMs;
    const logged = await readLoggedUsage(clients, rec.functionNames, rec.window.startMs, rec.window.endMs);
    const u = fleetUsage(logged, rec.vmIds, rec.registered, windowMs, {
      'checkpoint-timer': rec.vm.checkpointS * 1000,
      'pending-check-timer': rec.vm.pendingS * 1000,
      'heartbeat-monitor': rec.vm.heartbeatS * 1000,
    });
    const cost = costPerVmMonth({
      usage: u.nominal,
      windowMs,
      vms: u.vms,
      deployment: { ...SINGLE_VM_STACK, vmsPerDeployment: rec.registered },
      prices: CURRENT_PRICES,
    });
    const measured = costPerVmMonth({
      usage: u.total,
      windowMs,
      vms: u.vms,
      deployment: { ...SINGLE_VM_STACK, vmsPerDeployment: rec.registered },
      prices: CURRENT_PRICES,
    }).perVmMonthUsd;
    const attributed = rec.vmIds.filter((id) => logged.byVm[id] !== undefined).length;
    lines.push(
      '',
      `**Usage per VM-hour** over the ${rec.steps.at(-1)?.n}-VM step (${Math.round(windowMs / 1000)} s, every VM running; ${logged.records} usage records, ${attributed} of ${rec.vmIds.length} VMs named by them): ` +
        `**${fmt(u.perVmHour.requests)} requests** and **${mib(u.perVmHour.bytes)}** of request and response bodies, ${fmt(u.perVmHour.invocations)} invocations, ${u.perVmHour.gbSeconds.toFixed(1)} GB-s. ` +
        `Requests per VM-hour over the VMs: p50 ${fmt(u.requestsSpread.p50)}, p95 ${fmt(u.requestsSpread.p95)}, min ${fmt(u.requestsSpread.min)}, max ${fmt(u.requestsSpread.max)}.`,
      '',
      '| service | requests per VM-hour | bytes per VM-hour |',
      '| --- | ---: | ---: |',
      ...Object.entries(u.byService)
        .sort((a, b) => b[1].requests - a[1].requests)
        .map(([s, v]) => `| ${s} | ${fmt(v.requests)} | ${mib(v.bytes)} |`),
      '',
      `**Cost per VM-month** at these periods (src/cost, ${cost.region} list prices of ${cost.priceDate}, one stack shared by ${rec.registered} VMs): **${usd(cost.perVmMonthUsd)}** with each tick chain at its nominal rate ` +
        `(ticks delivered in the window vs nominal: ${Object.entries(u.nominalFactors)
          .map(([fn, f]) => `${fn} ×${f.toFixed(2)}`)
          .join(', ')}); as measured ${usd(measured)}. Largest lines:`,
      '',
      '| line item | per VM-month | unit | USD |',
      '| --- | ---: | --- | ---: |',
      ...cost.lines
        .filter((l) => l.usd >= 0.005)
        .slice(0, 8)
        .map(
          (l) =>
            `| ${l.label}${l.fixed ? ' (shared)' : ''} | ${fmt(l.quantity)} | ${l.unit} | ${usd(l.usd)} |`,
        ),
    );
  } catch (e) {
    lines.push('', `Usage records could not be read: ${e instanceof Error ? e.message : String(e)}`);
  }
  return lines.join('\n');
}

/** A run record read back for `--report`, checked enough that the report cannot trip over it. */
function readRunRecord(path: string): RunRecord {
  let rec: unknown;
  try {
    rec = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return die(
      `--report ${path}: ${code === 'ENOENT' ? 'does not exist' : e instanceof Error ? e.message.split('\n')[0] : String(e)}`,
    );
  }
  const r = rec as Partial<RunRecord> | null;
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
  return rec as RunRecord;
}

const reportFrom = flag('report');
let rec: RunRecord;
try {
  rec = reportFrom ? readRunRecord(reportFrom) : await runFleet();
} catch (e) {
  // Expected failures (LocalStack down, a deploy that failed and said why) are one line, no stack.
  die(e instanceof Error ? (e.message.split('\n')[0] ?? e.name) : String(e));
}
const table = await report(rec);
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
