/**
 * A fleet benchmark on ONE deployed stack on LocalStack, on the wall clock: steps through fleet sizes, adds
 * each step's VMs with `colo vm add`'s code, lets every VM run on the stack's own timers until each has K new
 * commits (or failed over, or the step timed out), and records per step the checkpoint latency percentiles
 * (request → vmstate-loaded), the channel backlog and the peak memory of this LocalStack and its function
 * processes. Then stops every VM and verifies each. Shared by `npm run fleet:localstack`
 * (scripts/fleet-localstack.ts) and the shipped experiment `npm run experiments -- --only fleet-localstack`.
 */
import { execFileSync } from 'node:child_process';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { S3StateStore } from '../../../lambda/adapters/s3-state-store.ts';
import { readControl } from '../../../lambda/handlers/common/control.ts';
import { type VmConfig, validateVmConfig } from '../../parameters/vm-config.ts';
import { type Clients, checkLocalStack } from './aws.ts';
import { queueDepth, waitQuiet } from './backend.ts';
import { addFleet, commitsOf, type FleetVmResult, percentile, stopVm, verifyFleetVm } from './fleet-run.ts';
import { type MemorySample, peakOf, sampleLocalStack } from './process-memory.ts';
import { describeStackOutputs, type StackOutputs } from './stack.ts';

/** The VMs' periods and apply deadline, s. */
export interface FleetVmPeriods {
  /** Checkpoint delay, s. */
  checkpointS: number;
  /** Pending-RAM check interval, s. */
  pendingS: number;
  /** Heartbeat interval, s. */
  heartbeatS: number;
  /** The secondary's apply deadline, s (the primary's checkpoint timeout is twice it). */
  applyTimeoutS: number;
}

/** What a fleet benchmark is asked to do. */
export interface FleetBenchOptions {
  /** Clients of the LocalStack to run on. */
  clients: Clients;
  /** Port LocalStack listens on (its process tree is sampled for memory). */
  port: number;
  /** Stack to use; deployed (scripts/deploy-local.sh) when it does not exist. */
  stackName: string;
  /** Fleet sizes, ascending (each step adds VMs up to the next size). */
  steps: readonly number[];
  /** New commits each VM must reach in a step. */
  commits: number;
  /** Longest a step may wait for them, ms. */
  stepTimeoutMs: number;
  /** Event-source mappings per FIFO channel when this run deploys the stack. */
  pollers: number;
  /** Event-source mappings per tick queue when this run deploys the stack (context tickPollers). */
  tickPollers: number;
  /** Periods of the VMs added. */
  vm: FleetVmPeriods;
  /** Progress lines. */
  say: (line: string) => void;
  /** Waits `ms` (tests pass a fake). */
  sleep: (ms: number) => Promise<void>;
  /** Wall clock, ms since the epoch. */
  now: () => number;
}

/** One fleet size of a run. */
export interface FleetStep {
  /** VMs running on the stack. */
  n: number;
  /** Checkpoint latency percentiles over the step's new commits, ms. */
  p50: number;
  /** 95th percentile, ms. */
  p95: number;
  /** 99th percentile, ms. */
  p99: number;
  /** New commits counted. */
  checkpoints: number;
  /** VMs that reached the K new commits. */
  reached: number;
  /** VMs of the step that failed over (their control document), by reason. */
  failedOver: Record<string, number>;
  /** Largest depth seen on each channel queue (visible, in flight and delayed), messages. */
  backlog: { p2s: number; s2p: number };
  /** Wall time of the step, s. */
  wallS: number;
  /** Peak memory over the step's polls. */
  memory: MemorySample;
  /** The step's window, ms since the epoch (older records lack it). */
  window?: { startMs: number; endMs: number };
}

/** What a run saved (out/fleet-<stack>-<run>.json, or the experiment's result). */
export interface FleetRunRecord {
  /** Stack run on. */
  stackName: string;
  /** VM id prefix of the run. */
  run: string;
  /** Largest fleet size. */
  n: number;
  /** New commits each VM had to reach per step. */
  commits: number;
  /** Event-source mappings per channel of the stack. */
  pollers: number;
  /** Event-source mappings per tick queue of the stack (absent in records from before it was kept: 1). */
  tickPollers?: number;
  /** The VMs' periods. */
  vm: FleetVmPeriods;
  /** One per fleet size. */
  steps: FleetStep[];
  /** The last step's window (every VM running), ms since the epoch. */
  window: { startMs: number; endMs: number };
  /** VMs registered on the stack during the last window (this run's and the deploy's own). */
  registered: number;
  /** This run's VMs, in the order they were added. */
  vmIds: string[];
  /** The check after stopping every VM. */
  final: {
    consistent: number;
    commits: number;
    /** Background rounds sent whole, over every VM, and the VMs that sent at least one (absent in older records). */
    rounds?: number;
    vmsWithRounds?: number;
    dlq: number;
    quiet: boolean;
    problems: string[];
  };
  /** ISO time the run started. */
  startedAt: string;
  /** Whole run, s. */
  totalWallS: number;
  /** The stack's functions (their logs hold the usage records). */
  functionNames: string[];
}

/** The fleet's VM: 4 MiB guest, fixed policy, the periods given; `i` makes its id and seed. */
export function fleetVmConfig(run: string, i: number, vm: FleetVmPeriods): VmConfig {
  return validateVmConfig({
    vmId: `${run}-${String(i).padStart(4, '0')}`,
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
}

/** The stack's outputs, deploying it first when it does not exist. */
async function ensureStack(
  o: FleetBenchOptions,
): Promise<{ outputs: StackOutputs; pollers: number; tickPollers: number }> {
  const { clients, stackName, vm } = o;
  let outputs: StackOutputs;
  try {
    outputs = await describeStackOutputs(clients, stackName);
  } catch {
    o.say(
      `deploying ${stackName} at ${clients.endpoint.url} (its own VM fb-base is registered by the deploy)`,
    );
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
        `channelPollers=${o.pollers}`,
        '-c',
        `tickPollers=${o.tickPollers}`,
      ],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, AWS_ENDPOINT_URL: clients.endpoint.url },
      },
    );
    outputs = await describeStackOutputs(clients, stackName);
  }
  if ((outputs.applyTimeoutCapMs ?? 0) < vm.applyTimeoutS * 1000) {
    throw new Error(
      `stack ${stackName} caps applyTimeoutMs at ${outputs.applyTimeoutCapMs} ms < the apply deadline ${vm.applyTimeoutS} s: use another stack (the run deploys it)`,
    );
  }
  const r = await clients.cloudformation.send(new DescribeStacksCommand({ StackName: stackName }));
  const json = r.Stacks?.[0]?.Outputs?.find((x) => x.OutputKey === 'ParametersJson')?.OutputValue;
  const deployed = json ? (JSON.parse(json) as { channelPollers?: number; tickPollers?: number }) : {};
  return { outputs, pollers: deployed.channelPollers ?? 1, tickPollers: deployed.tickPollers ?? 1 };
}

/**
 * Runs the fleet benchmark: every step, then stops every VM and verifies each.
 *
 * @throws LocalStackUnavailableError when LocalStack does not answer; Error when the stack cannot be used.
 */
export async function runFleetBench(o: FleetBenchOptions): Promise<FleetRunRecord> {
  const { clients, say, sleep, now, vm } = o;
  const K = o.commits;
  /** VM id prefix of this run: a rerun on the same stack starts fresh VMs. */
  const RUN = `fb${now().toString(36).slice(-4)}`;
  const vmConfig = (i: number) => fleetVmConfig(RUN, i, vm);
  const started = now();
  await checkLocalStack(clients.endpoint);
  const { outputs, pollers, tickPollers } = await ensureStack(o);
  say(`stack ${o.stackName}: ${pollers} event-source mapping(s) per channel, ${tickPollers} per tick queue`);
  // The deploy's own VM runs at the stack's default periods: stop it so only this run's VMs load the stack.
  await stopVm(clients, outputs, outputs.vmId);
  const target = { clients, outputs };
  const state = new S3StateStore({ bucket: outputs.bucketName, client: clients.s3 });
  const results: FleetStep[] = [];
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
  for (const n of o.steps) {
    const configs = Array.from({ length: n - added }, (_, j) => vmConfig(added + j));
    say(`step N=${n}: adding ${configs.length} VMs`);
    const late = await addFleet(target, configs);
    if (late.length > 0) say(`${late.length} VMs will be armed by the minute rule`);
    added = n;
    const ids = Array.from({ length: n }, (_, i) => vmConfig(i).vmId);
    const base = await commitsOfAll(ids);
    const t0 = now();
    let reached = 0;
    let memory = sampleLocalStack(o.port);
    const backlog = { p2s: 0, s2p: 0 };
    const failedOver = new Map<string, string>();
    while (now() - t0 < o.stepTimeoutMs) {
      const counts = await commitsOfAll(ids);
      const done = ids.filter((id) => (counts.get(id) ?? 0) - (base.get(id) ?? 0) >= K);
      reached = done.length;
      // A VM that failed over commits no more: stop waiting for it (it is reported).
      for (const id of ids) {
        if (done.includes(id) || failedOver.has(id)) continue;
        const ctl = await readControl(state, id);
        if (ctl.failedOver) failedOver.set(id, ctl.reason ?? 'failed over');
      }
      backlog.p2s = Math.max(backlog.p2s, await queueDepth(clients, outputs.p2sQueueUrl));
      backlog.s2p = Math.max(backlog.s2p, await queueDepth(clients, outputs.s2pQueueUrl));
      memory = peakOf(memory, sampleLocalStack(o.port));
      say(
        `N=${n}: ${reached}/${n} VMs have ${K} new commits, ${failedOver.size} failed over (${Math.round((now() - t0) / 1000)} s; ` +
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
    window = { startMs: t0, endMs: now() };
    const lat: number[] = [];
    let checkpoints = 0;
    for (const id of ids) {
      const v = await verifyFleetVm(clients, outputs, id, { quiet: true, dlq: 0 });
      // Only this step's checkpoints: the last (new commits) of each VM's log.
      const fresh = v.latenciesMs.slice(base.get(id) ?? 0);
      lat.push(...fresh);
      checkpoints += fresh.length;
    }
    const step: FleetStep = {
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
      window,
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
  const record: FleetRunRecord = {
    stackName: o.stackName,
    run: RUN,
    n: o.steps.at(-1) ?? 0,
    commits: K,
    pollers,
    tickPollers,
    vm,
    steps: results,
    window,
    registered: added + 1,
    vmIds: ids,
    final: {
      consistent: checked.length - bad.length,
      commits: checked.reduce((a, x) => a + x.commits, 0),
      rounds: checked.reduce((a, x) => a + x.rounds, 0),
      vmsWithRounds: checked.filter((x) => x.rounds > 0).length,
      dlq,
      quiet,
      problems: bad.slice(0, 5).map((x) => `${x.vmId}: ${x.verification.problems.join('; ')}`),
    },
    startedAt: new Date(started).toISOString(),
    totalWallS: Math.round((now() - started) / 1000),
    functionNames: outputs.functionNames,
  };
  for (const p of record.final.problems) say(p);
  say(
    `${record.final.consistent}/${ids.length} VMs consistent, ${record.final.commits} commits verified, ${record.final.rounds} background rounds (${record.final.vmsWithRounds} of ${ids.length} VMs), ${dlq} dead letters`,
  );
  return record;
}
