/**
 * The LocalStack fleet experiment's result (experiments/results/fleet-localstack/fleet.json): the fleet
 * benchmark's run record plus the usage per VM-hour of every step, and a reader that refuses a file it
 * cannot use with one line.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FleetRunRecord } from '../src/runtime/localstack/fleet-bench.ts';

/** The experiment's name (`npm run experiments -- --only fleet-localstack`). */
export const FLEET_LOCALSTACK = 'fleet-localstack';

/** Its folder. */
export const FLEET_LOCALSTACK_DIR = join('experiments', 'results', FLEET_LOCALSTACK);

/** Its result file. */
export const FLEET_LOCALSTACK_FILE = join(FLEET_LOCALSTACK_DIR, 'fleet.json');

/** Usage per VM-hour of one step's VMs over the step's window (from the functions' usage records). */
export interface StepUsage {
  /** VMs on the stack in the step. */
  n: number;
  /** Requests (all services), request and response bytes, invocations, GB-s per VM-hour. */
  perVmHour: { requests: number; bytes: number; invocations: number; gbSeconds: number };
  /** Per VM-hour by service (`s3`, `sqs`, `sqs-fifo`, …): requests and bytes. */
  byService: Record<string, { requests: number; bytes: number }>;
}

/** What the experiment saves. */
export interface FleetLocalStackResult {
  /** Format version. */
  version: 1;
  /** The fleet benchmark's run. */
  record: FleetRunRecord;
  /** Usage per step, in step order (empty when the logs could not be read; see `usageError`). */
  usage: StepUsage[];
  /** Why usage is missing, if it is. */
  usageError?: string;
  /** The LocalStack it ran on: its port and whether the experiment started (and stopped) it. */
  localstack: { port: number; started: boolean };
  /** Wall time of the whole step (LocalStack start and deploy included), ms. */
  wallMs: number;
}

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** Why `x` is not a usable result, or undefined when it is. */
export function fleetResultProblem(x: unknown): string | undefined {
  const r = x as Partial<FleetLocalStackResult> | null;
  if (typeof r !== 'object' || r === null) return 'not a JSON object';
  if (r.version !== 1) return `version ${JSON.stringify(r.version)} is not 1`;
  const rec = r.record;
  if (typeof rec !== 'object' || rec === null || !Array.isArray(rec.steps) || rec.steps.length === 0)
    return 'record.steps is missing or empty';
  for (const s of rec.steps) {
    const ok =
      typeof s === 'object' &&
      s !== null &&
      [s.n, s.p50, s.p95, s.p99, s.checkpoints, s.reached, s.wallS].every(isNum) &&
      typeof s.memory === 'object' &&
      s.memory !== null &&
      isNum(s.memory.localstackMiB) &&
      isNum(s.memory.functions?.totalMiB) &&
      typeof s.backlog === 'object' &&
      s.backlog !== null &&
      isNum(s.backlog.p2s) &&
      isNum(s.backlog.s2p);
    if (!ok) return 'a step lacks its figures (n, p50/p95/p99, checkpoints, memory, backlog)';
  }
  if (typeof rec.final !== 'object' || rec.final === null || !isNum(rec.final.consistent))
    return 'record.final is missing';
  if (!Array.isArray(rec.vmIds) || typeof rec.vm !== 'object' || rec.vm === null)
    return 'record.vmIds or record.vm is missing';
  if (!Array.isArray(r.usage)) return 'usage is not a list';
  for (const u of r.usage)
    if (!isNum(u?.n) || !isNum(u?.perVmHour?.requests) || typeof u.byService !== 'object')
      return 'a usage entry lacks n, perVmHour.requests or byService';
  if (!isNum(r.wallMs) || typeof r.localstack !== 'object' || r.localstack === null)
    return 'wallMs or localstack is missing';
  return undefined;
}

/**
 * Reads the result at `path`, or undefined when there is none.
 *
 * @throws Error (one line naming the file) when it is not a result this experiment wrote.
 */
export function readFleetLocalStack(path = FLEET_LOCALSTACK_FILE): FleetLocalStackResult | undefined {
  if (!existsSync(path)) return undefined;
  let x: unknown;
  try {
    x = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: not JSON (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
  }
  const problem = fleetResultProblem(x);
  if (problem)
    throw new Error(`${path}: ${problem}; rerun npm run experiments -- --only ${FLEET_LOCALSTACK}`);
  return x as FleetLocalStackResult;
}
