/**
 * Per-invocation AWS usage: the handler wrapper resets the process's usage meter when an invocation starts
 * and, when it ends, writes one `aws usage` log record (requests by service and operation with bytes,
 * billed duration, memory, GB-seconds, log bytes, the event-source batch it was given) and three EMF
 * metrics without per-VM dimensions (the VM id is a property of the record). The cost model
 * (src/cost/) sums these records; `colo run --backend localstack` reads them back from CloudWatch Logs.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { type AwsUsage, emptyUsage, mergeUsage, scaleUsage, sumRequests } from '../../../src/cost/usage.ts';
import { ENV, STACK_CHAIN_ID } from '../../adapters/contract.ts';
import type { Env } from '../../adapters/env.ts';
import { processMeter, type UsageMeter } from '../../adapters/usage-meter.ts';
import { vmOfChannelRecord, vmOfTickRecord } from './fleet-dispatch.ts';
import { METRIC_NAMESPACE, type Observability } from './observability.ts';

/** The message of the per-invocation usage record (what readers filter on). */
export const USAGE_RECORD_MESSAGE = 'aws usage';

/** Bytes a usage record adds to the log beyond its JSON (Powertools' own fields, the line's prefix). */
const RECORD_OVERHEAD_BYTES = 200;

/** The fields of one `aws usage` record (besides Powertools' own). */
export interface UsageRecord {
  /** Always {@link USAGE_RECORD_MESSAGE}. */
  message: typeof USAGE_RECORD_MESSAGE;
  /** Function role (`POWERTOOLS_SERVICE_NAME`, e.g. `pending-check-timer`; Powertools owns `service`). */
  function: string;
  /**
   * VM the invocation served (a property, never a metric dimension): the one VM its event names, else the
   * function's own (a one-VM stack), else empty (a batch of several VMs, or a watchdog run of the fleet).
   */
  vmId: string;
  /**
   * Every VM the event names, in first-appearance order (a FIFO record's message group, a tick's `vmId`,
   * a direct invocation's `vmId` or `vmIds`); empty when it names none. A batch of several VMs shares one
   * record: readers split it among them (src/runtime/localstack/usage-logs.ts).
   */
  vmIds: string[];
  /** Configured memory, MB (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`). */
  memoryMb: number;
  /** What the invocation asked of AWS, its own billed duration and log bytes included. */
  usage: AwsUsage;
}

let logBytes = 0;
let counting = false;

/** Parts of the running invocation's usage attributed elsewhere ({@link measurePart}). */
const parts: { part: string; usage: AwsUsage }[] = [];

/** Suffix of the function name of a part's usage record: `<function>:vms` (src/cost/levers.ts). */
export const VM_PART = 'vms';

/**
 * Runs `work` and attributes what it asked of AWS (requests, log bytes; the invocation keeps its duration)
 * to a part of the invocation: at the invocation's end that usage leaves the function's record and goes in
 * a record of its own, function `<function>:<part>`. The pulse and the monitor measure their per-VM steps
 * this way (part {@link VM_PART}): the cost model divides the rest — the stack's own claim, documents and
 * ticks — among the stack's VMs, and prices the steps per VM. Concurrent work of the same invocation
 * outside `work` is counted in the part too.
 */
export async function measurePart<T>(
  part: string,
  work: () => Promise<T>,
  meter: UsageMeter = processMeter,
): Promise<T> {
  const before = scaleUsage(meter.usage, 1);
  const logBefore = logBytes;
  try {
    return await work();
  } finally {
    const used = mergeUsage(meter.usage, scaleUsage(before, -1));
    used.logBytes = logBytes - logBefore;
    const kept = parts.find((p) => p.part === part);
    if (kept) kept.usage = mergeUsage(kept.usage, used);
    else parts.push({ part, usage: used });
  }
}

/** Counts what the process writes to stdout and stderr (the function's log), once per process. */
function countLogBytes(): void {
  if (counting) return;
  counting = true;
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      logBytes +=
        typeof chunk === 'string'
          ? Buffer.byteLength(chunk)
          : chunk instanceof Uint8Array
            ? chunk.byteLength
            : 0;
      return write(chunk, ...rest);
    }) as typeof stream.write;
  }
}

/** SQS batch an event delivers, by queue kind, or none (a direct invoke or a rule). */
function esmBatchOf(event: unknown): 'sqs' | 'sqs-fifo' | undefined {
  const first = (event as { Records?: { eventSource?: unknown; eventSourceARN?: unknown }[] } | null)
    ?.Records?.[0];
  if (first?.eventSource !== 'aws:sqs') return undefined;
  return typeof first.eventSourceARN === 'string' && first.eventSourceARN.endsWith('.fifo')
    ? 'sqs-fifo'
    : 'sqs';
}

/** Most VM ids one record lists (a watchdog run may name a whole fleet; the log line stays small). */
export const MAX_RECORD_VM_IDS = 100;

/**
 * The VMs an event names: each SQS record's FIFO message group, else its tick body's `vmId`; a direct
 * invocation's `vmId` and `vmIds`. Distinct, in first-appearance order, at most {@link MAX_RECORD_VM_IDS}.
 */
export function vmIdsOfEvent(event: unknown): string[] {
  const ids = new Set<string>();
  const add = (v: unknown): void => {
    // A stack chain's tick names the stack, not a VM: its record is the stack's (shared by its VMs).
    if (typeof v === 'string' && v !== '' && v !== STACK_CHAIN_ID && ids.size < MAX_RECORD_VM_IDS) ids.add(v);
  };
  const e = event as { Records?: unknown; vmId?: unknown; vmIds?: unknown } | null;
  if (Array.isArray(e?.Records)) {
    for (const r of e.Records as Parameters<typeof vmOfChannelRecord>[0][]) {
      if (typeof r !== 'object' || r === null) continue;
      add(vmOfChannelRecord(r) ?? (typeof r.body === 'string' ? vmOfTickRecord(r) : undefined));
    }
    return [...ids];
  }
  add(e?.vmId);
  if (Array.isArray(e?.vmIds)) for (const v of e.vmIds) add(v);
  return [...ids];
}

/** What the wrapper needs; the defaults are the process's. */
export interface UsageReportOptions {
  /** Meter the clients are attached to. */
  meter?: UsageMeter;
  /** Logger and metrics for the record (default: Powertools, service from the environment, no VM dimension). */
  obs?: Observability;
  /** Environment (service name, VM id, memory size). */
  env?: Env;
  /** Monotonic clock, ms. */
  clock?: () => number;
  /**
   * When an invocation still running says so, ms after its start: first at `firstMs`, then every
   * `everyMs`; default {@link STILL_RUNNING}.
   */
  stillRunning?: { firstMs: number; everyMs: number };
}

/**
 * An invocation still running 10 s after it started (every tick and most steps take well under a second)
 * logs what it waits on every 15 s until it ends or the function's timeout kills it — the only trace a
 * killed invocation leaves of why (an outside review and a LocalStack run saw both pulses of a stack hang
 * 60 s at once, with nothing in the logs to say on what).
 */
export const STILL_RUNNING = { firstMs: 10_000, everyMs: 15_000 } as const;

/** Counts of the process's active resources by kind (sockets, timers, file requests: `getActiveResourcesInfo`). */
function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

/** Logs, while `running()`, what the invocation waits on; returns the function that stops it. */
function watchStillRunning(
  obs: () => Observability,
  meter: UsageMeter,
  clock: () => number,
  t0: number,
  when: { firstMs: number; everyMs: number },
): () => void {
  let timer: NodeJS.Timeout | undefined;
  const tell = (): void => {
    const calls = meter.inFlight();
    obs().logger.warn('invocation still running', {
      elapsedMs: Math.round(clock() - t0),
      awsCallsInFlight: calls.length,
      oldestCalls: calls.slice(0, 10),
      activeResources: activeResources(),
      heapUsedMb: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
    });
    timer = setTimeout(tell, when.everyMs);
    timer.unref();
  };
  timer = setTimeout(tell, when.firstMs);
  timer.unref();
  return () => clearTimeout(timer);
}

function defaultObs(service: string): Observability {
  return {
    logger: new Logger({ serviceName: service }),
    metrics: new Metrics({ namespace: METRIC_NAMESPACE, serviceName: service }),
  };
}

/**
 * Wraps a handler so that each invocation's usage is recorded. A failing invocation is recorded too
 * (it was billed), then its error is rethrown unchanged.
 */
export function withUsageReport<E, R>(
  handler: (event: E) => Promise<R>,
  options: UsageReportOptions = {},
): (event: E) => Promise<R> {
  const env = options.env ?? process.env;
  const meter = options.meter ?? processMeter;
  const clock = options.clock ?? (() => performance.now());
  const service = env[ENV.serviceName] || 'colo';
  let obs = options.obs;
  if (!options.env) countLogBytes();
  return async (event) => {
    meter.reset();
    parts.length = 0;
    const logAtStart = logBytes;
    const t0 = clock();
    const stopWatch = watchStillRunning(
      () => {
        obs ??= defaultObs(service);
        return obs;
      },
      meter,
      clock,
      t0,
      options.stillRunning ?? STILL_RUNNING,
    );
    try {
      return await handler(event);
    } finally {
      stopWatch();
      let usage = meter.reset();
      const carved = parts.splice(0);
      for (const p of carved) usage = mergeUsage(usage, scaleUsage(p.usage, -1));
      const memoryMb = Number(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE) || 0;
      const billedMs = Math.max(1, Math.ceil(clock() - t0));
      usage.invocations = 1;
      usage.billedMs = billedMs;
      usage.gbSeconds = (billedMs / 1000) * (memoryMb / 1024);
      const batch = esmBatchOf(event);
      if (batch) usage.esmBatches[batch] = 1;
      const vmIds = vmIdsOfEvent(event);
      const record: UsageRecord = {
        message: USAGE_RECORD_MESSAGE,
        function: service,
        vmId: vmIds.length === 1 ? (vmIds[0] as string) : vmIds.length === 0 ? (env[ENV.vmId] ?? '') : '',
        vmIds,
        memoryMb,
        usage,
      };
      usage.logBytes = logBytes - logAtStart + JSON.stringify(record).length + RECORD_OVERHEAD_BYTES;
      // The parts' log lines are theirs.
      for (const p of carved) usage.logBytes = Math.max(0, usage.logBytes - p.usage.logBytes);
      obs ??= defaultObs(service);
      const { message: _, ...fields } = record;
      obs.logger.info(USAGE_RECORD_MESSAGE, fields);
      for (const p of carved) {
        const partUsage = mergeUsage(emptyUsage(), p.usage);
        partUsage.logBytes += RECORD_OVERHEAD_BYTES + 300;
        obs.logger.info(USAGE_RECORD_MESSAGE, {
          function: `${service}:${p.part}`,
          vmId: '',
          vmIds: [],
          memoryMb,
          usage: partUsage,
        });
      }
      obs.metrics.addMetric(
        'AwsRequests',
        MetricUnit.Count,
        sumRequests(usage, () => true),
      );
      obs.metrics.addMetric(
        'AwsRequestBytes',
        MetricUnit.Bytes,
        sumRequests(
          usage,
          () => true,
          (t) => t.bytesIn + t.bytesOut,
        ),
      );
      obs.metrics.addMetric('BilledDuration', MetricUnit.Milliseconds, billedMs);
      obs.metrics.publishStoredMetrics();
    }
  };
}
