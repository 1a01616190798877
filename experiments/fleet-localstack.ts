/**
 * The LocalStack fleet as a shipped experiment (`npm run experiments -- --only fleet-localstack`): makes sure a
 * LocalStack answers on its port (starting one with scripts/localstack-up.sh when none does, and stopping
 * what it started at the end, on failure and on Ctrl-C too), runs the fleet benchmark
 * (src/runtime/localstack/fleet-bench.ts) at sizes that fit the experiments' time budget, reads each step's
 * usage per VM-hour back from the functions' logs, and saves experiments/results/fleet-localstack/fleet.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import {
  checkLocalStack,
  clientsFor,
  type Endpoint,
  endpointFromEnv,
  LocalStackUnavailableError,
} from '../src/runtime/localstack/aws.ts';
import { type FleetVmPeriods, runFleetBench } from '../src/runtime/localstack/fleet-bench.ts';
import { stepUsage } from '../src/runtime/localstack/fleet-report.ts';
import {
  FLEET_LOCALSTACK,
  FLEET_LOCALSTACK_DIR,
  FLEET_LOCALSTACK_FILE,
  type FleetLocalStackResult,
  readFleetLocalStack,
  type StepUsage,
} from './fleet-localstack-results.ts';

/** Largest fleet of the default run: 1, 5 and 20 VMs fit the experiments' time budget (16 min measured, deploy included). */
export const DEFAULT_FLEET_VMS = 20;

/** Largest fleet `--fleet-vms` accepts (the fleet script's bound). */
export const MAX_FLEET_VMS = 1000;

/**
 * The VMs' periods: a checkpoint a minute keeps each step to a few minutes; the apply deadline is the fleet
 * script's (a hop can wait behind the fleet's other groups on the shared channels).
 */
export const FLEET_PERIODS: FleetVmPeriods = {
  checkpointS: 60,
  pendingS: 30,
  heartbeatS: 60,
  applyTimeoutS: 120,
};

/** New commits each VM must reach per step. */
export const FLEET_COMMITS = 3;

/** Stack the experiment deploys (apart from the fleet script's FleetBench). */
export const FLEET_STACK = 'FleetExperiment';

/** Services the fleet needs from LocalStack. */
const SERVICES = ['s3', 'sqs', 'lambda', 'events', 'cloudformation', 'logs'];

/** Fleet sizes for a largest fleet of `vms`: 1, 5, 20 and `vms`, those not above it. */
export function fleetSteps(vms: number): number[] {
  if (!Number.isSafeInteger(vms) || vms < 1 || vms > MAX_FLEET_VMS)
    throw new RangeError(`--fleet-vms must be an integer in [1, ${MAX_FLEET_VMS}], got ${vms}`);
  return [...new Set([1, 5, DEFAULT_FLEET_VMS, vms].filter((n) => n <= vms))].sort((a, b) => a - b);
}

/** The port of a local endpoint (127.0.0.1 or localhost), or undefined for any other host. */
export function localPort(endpoint: Endpoint): number | undefined {
  const u = new URL(endpoint.url);
  if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost') return undefined;
  return Number(u.port || (u.protocol === 'https:' ? 443 : 80));
}

const say = (line: string): void => {
  process.stderr.write(`${FLEET_LOCALSTACK}: ${line}\n`);
};

/** Stops the LocalStack this checkout's scripts/localstack-up.sh started (its pid file names it). */
function stopLocalStack(port: number): void {
  say(`stopping the LocalStack it started on port ${port}`);
  spawnSync('bash', ['scripts/localstack-down.sh'], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, LOCALSTACK_PORT: String(port) },
  });
}

/** Starts a LocalStack on `port` (scripts/localstack-up.sh); returns its exit status (0 = healthy). */
export type LocalStackStarter = (port: number) => number | null;

/** scripts/localstack-up.sh with LOCALSTACK_PORT, its output shown. */
export const startWithScript: LocalStackStarter = (port) =>
  spawnSync('bash', ['scripts/localstack-up.sh'], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, LOCALSTACK_PORT: String(port) },
  }).status;

/**
 * Reuses the LocalStack answering at `endpoint`, or starts one on its port. Returns whether it started one.
 * A LocalStack that answers without the fleet's services, or an endpoint that is not on this machine, is
 * reported, never replaced.
 *
 * @throws LocalStackUnavailableError (one line) when none answers and none can be started there.
 */
export async function ensureLocalStack(
  endpoint: Endpoint,
  start: LocalStackStarter = startWithScript,
): Promise<{ port: number; started: boolean }> {
  const port = localPort(endpoint);
  try {
    await checkLocalStack(endpoint, SERVICES);
    say(`using the LocalStack at ${endpoint.url}`);
    return { port: port ?? 0, started: false };
  } catch (e) {
    if (
      port === undefined ||
      !(e instanceof LocalStackUnavailableError) ||
      !e.message.includes('not reachable')
    )
      throw e;
  }
  say(
    `no LocalStack answers at ${endpoint.url}: starting one (scripts/localstack-up.sh, LOCALSTACK_PORT=${port})`,
  );
  const status = start(port);
  if (status !== 0) {
    // Not stopped here: scripts/localstack-down.sh stops whatever this checkout last started, on any port.
    throw new LocalStackUnavailableError(
      `LocalStack could not start on port ${port} (scripts/localstack-up.sh exited ${status ?? 'on a signal'}; its log: localstack/.state/localstack.log; npm run localstack:down stops one it left); --skip-localstack runs the embedded experiments only`,
    );
  }
  return { port, started: true };
}

/** What the experiment is asked to do. */
export interface FleetExperimentOptions {
  /** Largest fleet. */
  vms: number;
  /** Keep a finished result instead of running again. */
  resume: boolean;
}

/**
 * Runs the experiment and saves its result. With `resume`, a finished result on disk is kept.
 *
 * @throws Error (one line) when LocalStack cannot be had or the run fails; a LocalStack it started is stopped.
 */
export async function runFleetLocalStack(o: FleetExperimentOptions): Promise<FleetLocalStackResult> {
  const steps = fleetSteps(o.vms);
  if (o.resume) {
    const kept = readFleetLocalStack();
    if (kept) {
      say(`kept the finished result ${FLEET_LOCALSTACK_FILE} (--resume)`);
      return kept;
    }
  }
  const t0 = performance.now();
  const endpoint = endpointFromEnv();
  const ls = await ensureLocalStack(endpoint);
  // Ctrl-C or a kill stops what this step started before the process goes (the normal path stops it below).
  const onSignal = (signal: NodeJS.Signals) => {
    if (ls.started) stopLocalStack(ls.port);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const clients = clientsFor(endpoint);
    rmSync(FLEET_LOCALSTACK_DIR, { recursive: true, force: true });
    const record = await runFleetBench({
      clients,
      port: ls.port,
      stackName: FLEET_STACK,
      steps,
      commits: FLEET_COMMITS,
      stepTimeoutMs: 20 * 60_000,
      pollers: 8,
      tickPollers: 2,
      vm: FLEET_PERIODS,
      say,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      now: Date.now,
    });
    const usage: StepUsage[] = [];
    let usageError: string | undefined;
    try {
      for (const step of record.steps) {
        const u = await stepUsage(clients, record, step);
        usage.push({ n: step.n, perVmHour: u.perVmHour, byService: u.byService });
      }
    } catch (e) {
      usageError = e instanceof Error ? (e.message.split('\n')[0] ?? e.name) : String(e);
      say(`usage records could not be read: ${usageError}`);
      usage.length = 0;
    }
    const result: FleetLocalStackResult = {
      version: 1,
      record,
      usage,
      ...(usageError ? { usageError } : {}),
      localstack: ls,
      wallMs: Math.round(performance.now() - t0),
    };
    mkdirSync(FLEET_LOCALSTACK_DIR, { recursive: true });
    writeFileSync(FLEET_LOCALSTACK_FILE, `${JSON.stringify(result, null, 2)}\n`);
    say(`saved ${FLEET_LOCALSTACK_FILE}`);
    return result;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (ls.started) stopLocalStack(ls.port);
  }
}
