/**
 * `npm run fleet:localstack -- [N] [--stack NAME] [--commits K] [--timeout-min M] [--pollers P] [--no-docs]`: a fleet of N VMs
 * (default 100) on ONE deployed stack on LocalStack. Steps through fleet sizes 1, 10, N: adds VMs with
 * `colo vm add`'s code, lets every VM of the step run on the stack's own wall-clock timers (the shared tick
 * queues and the one watchdog rule; no virtual-clock stepper) until each has K new commits (default 3),
 * and records the per-VM checkpoint latency (request → vmstate-loaded, the primary's messageMs +
 * downtimeMs) percentiles and the memory of LocalStack and of the function processes. Finally stops every
 * VM and verifies each (every commit = its PVM at that stop; nothing lost, refused or dead-lettered), and
 * writes the figures between the fleet markers of docs/cloud.md.
 *
 * The stack (default FleetBench) is deployed first when it does not exist. Light VMs so that N of them fit
 * a 2-core machine: 4 MiB guests, checkpoints every 10 s, pending checks and heartbeats every 5 s.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { type VmConfig, validateVmConfig } from '../src/parameters/vm-config.ts';
import { clientsFor, endpointFromEnv } from '../src/runtime/localstack/aws.ts';
import { queueDepth, waitQuiet } from '../src/runtime/localstack/backend.ts';
import {
  addFleet,
  commitsOf,
  type FleetVmResult,
  percentile,
  stopVm,
  verifyFleetVm,
} from '../src/runtime/localstack/fleet-run.ts';
import { describeStackOutputs, type StackOutputs } from '../src/runtime/localstack/stack.ts';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const N = Number(args.find((a) => /^\d+$/.test(a)) ?? 100);
const stackName = flag('--stack') ?? 'FleetBench';
const K = Number(flag('--commits') ?? 3);
const stepTimeoutMs = Number(flag('--timeout-min') ?? 20) * 60_000;
/**
 * Event-source mappings per FIFO channel when the stack is deployed here (context channelPollers): LocalStack
 * polls each mapping in one thread that invokes a batch's VMs one after another, then waits 1 s.
 */
const POLLERS = Number(flag('--pollers') ?? 4);
if (!Number.isSafeInteger(POLLERS) || POLLERS < 1 || POLLERS > 8) {
  process.stderr.write(
    `fleet-localstack: --pollers must be an integer in [1, 8], got ${flag('--pollers')}\n`,
  );
  process.exit(1);
}
if (!Number.isSafeInteger(N) || N < 1 || N > 1000) {
  process.stderr.write(`fleet-localstack: N must be an integer in [1, 1000], got ${N}\n`);
  process.exit(1);
}
const say = (line: string): void => {
  process.stderr.write(`fleet-localstack: ${line}\n`);
};
const clients = clientsFor(endpointFromEnv());
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** VM id prefix of this run: a rerun on the same stack starts fresh VMs. */
const RUN = `fb${Date.now().toString(36).slice(-4)}`;

function vmConfig(i: number): VmConfig {
  return validateVmConfig({
    vmId: `${RUN}-${String(i).padStart(4, '0')}`,
    seed: 1000 + i,
    guestBytes: 4 * 1024 * 1024,
    workload: 'hotcold:hotPages=64,hotRate=40,coldRate=40',
    policy: 'fixed',
    thresholdBytes: 65536,
    checkpointDelayMs: 10_000,
    applyTimeoutMs: APPLY_TIMEOUT_MS,
    pendingCheckIntervalMs: 5000,
    heartbeatIntervalMs: 5000,
    heartbeatTimeoutMs: 120_000,
  });
}

/** Resident memory of processes whose command line matches, MiB. */
function rssMiB(match: (cmd: string) => boolean): number {
  let kib = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (!match(cmd)) continue;
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      kib += Number(m?.[1] ?? 0);
    } catch {
      // the process ended meanwhile
    }
  }
  return kib / 1024;
}

/** The LocalStack process listening on the endpoint's port (others may run their own elsewhere). */
function localstackMiB(): number {
  const port = new URL(clients.endpoint.url).port || '4566';
  try {
    const out = execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8' });
    const pid = /pid=(\d+)/.exec(out)?.[1];
    if (!pid) return Number.NaN;
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(m?.[1] ?? 0) / 1024;
  } catch {
    return Number.NaN;
  }
}

/**
 * Apply deadline of every VM, ms: LocalStack's event sources poll on a shared, loaded machine, so a
 * checkpoint's messages can take several seconds per hop (5 s deadlines failed over there).
 */
const APPLY_TIMEOUT_MS = 15_000;

async function ensureStack(): Promise<StackOutputs> {
  try {
    return await describeStackOutputs(clients, stackName);
  } catch {
    say(`deploying ${stackName} (its own VM fb-base is registered by the deploy)`);
    execFileSync(
      'bash',
      [
        'scripts/deploy-local.sh',
        '-c',
        `stackName=${stackName}`,
        '-c',
        'vmId=fb-base',
        '-c',
        `applyTimeoutMs=${APPLY_TIMEOUT_MS}`,
        '-c',
        `channelPollers=${POLLERS}`,
      ],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    return describeStackOutputs(clients, stackName);
  }
}

interface Step {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  checkpoints: number;
  reached: number;
  wallS: number;
  localstackMiB: number;
  functionsMiB: number;
}

const outputs = await ensureStack();
/** The stack's channelPollers (its ParametersJson output; 1 for a stack from before the parameter). */
const pollersOfStack = await (async () => {
  const r = await clients.cloudformation.send(new DescribeStacksCommand({ StackName: stackName }));
  const json = r.Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === 'ParametersJson')?.OutputValue;
  return (json ? (JSON.parse(json) as { channelPollers?: number }).channelPollers : undefined) ?? 1;
})();
say(`stack ${stackName}: ${pollersOfStack} event-source mapping(s) per channel`);
const target = { clients, outputs };
const steps = [...new Set([1, 10, N].filter((n) => n <= N))];
const results: Step[] = [];
let added = 0;
for (const n of steps) {
  const configs = Array.from({ length: n - added }, (_, j) => vmConfig(added + j));
  say(`step N=${n}: adding ${configs.length} VMs`);
  const late = await addFleet(target, configs);
  if (late.length > 0) say(`${late.length} VMs will be armed by the minute rule`);
  added = n;
  const ids = Array.from({ length: n }, (_, i) => vmConfig(i).vmId);
  const base = new Map<string, number>();
  for (const id of ids) base.set(id, await commitsOf(clients, outputs, id));
  const t0 = Date.now();
  let reached = 0;
  while (Date.now() - t0 < stepTimeoutMs) {
    reached = 0;
    for (const id of ids) if ((await commitsOf(clients, outputs, id)) - (base.get(id) ?? 0) >= K) reached++;
    say(`N=${n}: ${reached}/${n} VMs have ${K} new commits (${Math.round((Date.now() - t0) / 1000)} s)`);
    if (reached === n) break;
    await sleep(5000);
  }
  const lat: number[] = [];
  let checkpoints = 0;
  for (const id of ids) {
    const r = await verifyFleetVm(clients, outputs, id, { quiet: true, dlq: 0 });
    // Only this step's checkpoints: the last (new commits) of each VM's log.
    const fresh = r.latenciesMs.slice(base.get(id) ?? 0);
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
    wallS: Math.round((Date.now() - t0) / 1000),
    localstackMiB: Math.round(localstackMiB()),
    functionsMiB: Math.round(rssMiB((c) => c.includes('colo_localstack_executor/bootstrap'))),
  };
  say(JSON.stringify(step));
  results.push(step);
}

say('stopping every VM and verifying each');
const ids = Array.from({ length: added }, (_, i) => vmConfig(i).vmId);
for (const id of ids) await stopVm(clients, outputs, id);
const quiet = await waitQuiet(clients, outputs, ids.at(-1) as string, 120_000, sleep);
const dlq = (await queueDepth(clients, outputs.p2sDlqUrl)) + (await queueDepth(clients, outputs.s2pDlqUrl));
const checked: FleetVmResult[] = [];
for (const id of ids) checked.push(await verifyFleetVm(clients, outputs, id, { quiet, dlq }));
const consistent = checked.filter((r) => r.verification.consistent).length;
const commits = checked.reduce((a, r) => a + r.commits, 0);
for (const r of checked.filter((x) => !x.verification.consistent).slice(0, 5)) {
  say(`${r.vmId}: ${r.verification.problems.join('; ')}`);
}
say(`${consistent}/${ids.length} VMs consistent, ${commits} commits verified, ${dlq} dead letters`);

const date = new Date().toISOString().slice(0, 10);
const table = [
  `Measured ${date} by \`npm run fleet:localstack -- ${N}\` on stack ${stackName} (LocalStack 4.13.1, host-node executor, 2-core machine shared with other work): ${ids.length} VMs (4 MiB guests, fixed policy, checkpoints every 10 s, pending checks and heartbeats every 5 s, apply deadline ${APPLY_TIMEOUT_MS / 1000} s), ${pollersOfStack} event-source mapping(s) per channel (\`channelPollers\`, read from the stack), wall-clock timers (no virtual-clock stepper). Final check: **${consistent} of ${ids.length} VMs consistent**, ${commits} commits verified, ${dlq} dead letters.`,
  '',
  '| VMs on the stack | VMs with ≥ ' +
    K +
    ' new commits | checkpoints | latency p50 | p95 | p99 | LocalStack RSS | function processes RSS | wall |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...results.map(
    (s) =>
      `| ${s.n} | ${s.reached} | ${s.checkpoints} | ${Math.round(s.p50)} ms | ${Math.round(s.p95)} ms | ${Math.round(s.p99)} ms | ${s.localstackMiB} MiB | ${s.functionsMiB} MiB | ${s.wallS} s |`,
  ),
].join('\n');
process.stdout.write(`${table}\n`);
if (!args.includes('--no-docs')) {
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
process.exit(consistent === ids.length ? 0 : 1);
