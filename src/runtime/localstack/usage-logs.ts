/**
 * Reads the functions' per-invocation `aws usage` records (lambda/handlers/common/usage-report.ts) back
 * from CloudWatch Logs for a time window, summed per function, and counts the EMF metric series the
 * functions published (what CloudWatch would bill as custom metrics).
 */
import { type AwsUsage, emptyUsage, mergeUsage, scaleUsage } from '../../cost/usage.ts';
import type { Clients } from './aws.ts';
import { forEachLogLine } from './function-logs.ts';

/** The message the usage records carry (lambda/handlers/common/usage-report.ts). */
const USAGE_MESSAGE = 'aws usage';

/** One VM's share of the logged usage. */
export interface VmUsage {
  /** Its share of each function's usage. */
  byFunction: Record<string, AwsUsage>;
  /** Records of each function that named it. */
  records: Record<string, number>;
}

/** What the logs of a window held. */
export interface LoggedUsage {
  /** Usage by function role (the record's `function`). */
  byFunction: Record<string, AwsUsage>;
  /** Usage records read. */
  records: number;
  /**
   * Usage by VM, by function: a record naming k VMs (its `vmIds`; else its `vmId`) adds 1/k of its usage
   * to each — a tick batch of several VMs ran them side by side in one invocation — and counts one record
   * for each (for a tick consumer: one delivered tick). Records naming no VM (a watchdog run over the
   * whole fleet) are in {@link unattributed}.
   */
  byVm: Record<string, VmUsage>;
  /** Usage of records that name no VM. */
  unattributed: AwsUsage;
  /**
   * Records that name no VM, by function role: their usage and count (for a stack chain, the pulse's or
   * the monitor's: one record per tick, its per-VM steps in a record of its own, `<role>:vms`).
   */
  unattributedByFunction: Record<string, { usage: AwsUsage; records: number }>;
  /** Distinct EMF metric series seen, and how many of them carry a `vmId` dimension. */
  metricSeries: { total: number; perVm: number };
  /** The stack chains' own log lines: how regularly the pulse ran, and what the monitor made of it. */
  chains: ChainCadence;
}

/**
 * The cadence of the stack's pulse and what the monitor saw of it (their `pulse` and `monitor` log lines):
 * the pulse is every primary's liveness evidence, so its gaps are what a heartbeat timeout must outlast.
 */
export interface ChainCadence {
  /** Start of each pulse (its line's time less its `elapsedMs`), ms since the epoch, in read order. */
  pulseStartsMs: number[];
  /** How long each pulse ran, ms (same order). */
  pulseElapsedMs: number[];
  /** Monitor ticks that found the pulse document stale and read the primaries' documents instead. */
  monitorPulseStale: number;
  /** Sum of the monitor's `failedOver` counts: its VM steps that reported a failed-over VM (a VM is counted at each such step). */
  monitorFailedOver: number;
}

/** The VMs a usage record names: its `vmIds` (records since the fleet fix), else its non-empty `vmId`. */
export function vmsOfRecord(line: Record<string, unknown>): string[] {
  if (Array.isArray(line.vmIds)) {
    return [...new Set(line.vmIds.filter((v): v is string => typeof v === 'string' && v !== ''))];
  }
  return typeof line.vmId === 'string' && line.vmId !== '' ? [line.vmId] : [];
}

/** An empty tally of logged usage. */
export function emptyLoggedUsage(): LoggedUsage {
  return {
    byFunction: {},
    records: 0,
    byVm: {},
    unattributed: emptyUsage(),
    unattributedByFunction: {},
    metricSeries: { total: 0, perVm: 0 },
    chains: { pulseStartsMs: [], pulseElapsedMs: [], monitorPulseStale: 0, monitorFailedOver: 0 },
  };
}

/** Adds a stack chain's `pulse` or `monitor` line (lambda/handlers/common/pulse.ts, monitor.ts) to `into`. */
function absorbChainLine(into: ChainCadence, line: Record<string, unknown>, timestampMs: number): void {
  const elapsed = typeof line.elapsedMs === 'number' && line.elapsedMs >= 0 ? line.elapsedMs : undefined;
  if (line.message === 'pulse' && elapsed !== undefined && timestampMs > 0) {
    into.pulseStartsMs.push(timestampMs - elapsed);
    into.pulseElapsedMs.push(elapsed);
  } else if (line.message === 'monitor') {
    if (line.pulseStale === true) into.monitorPulseStale++;
    if (typeof line.failedOver === 'number') into.monitorFailedOver += line.failedOver;
  }
}

/**
 * Adds one parsed log line to `into` (usage record, EMF blob, or a stack chain's line; `timestampMs` is the
 * log event's time); other lines are ignored.
 */
export function absorbLogLine(
  into: LoggedUsage,
  series: Set<string>,
  vmSeries: Set<string>,
  line: Record<string, unknown>,
  timestampMs = 0,
): void {
  absorbChainLine(into.chains, line, timestampMs);
  if (line.message === USAGE_MESSAGE && typeof line.usage === 'object' && line.usage !== null) {
    const fn = typeof line.function === 'string' ? line.function : 'unknown';
    const usage = line.usage as AwsUsage;
    into.byFunction[fn] = mergeUsage(into.byFunction[fn] ?? emptyUsage(), usage);
    into.records++;
    const vms = vmsOfRecord(line);
    if (vms.length === 0) {
      into.unattributed = mergeUsage(into.unattributed, usage);
      const u = into.unattributedByFunction[fn] ?? { usage: emptyUsage(), records: 0 };
      into.unattributedByFunction[fn] = { usage: mergeUsage(u.usage, usage), records: u.records + 1 };
    } else {
      const share = scaleUsage(usage, 1 / vms.length);
      for (const vm of vms) {
        const v = into.byVm[vm] ?? { byFunction: {}, records: {} };
        into.byVm[vm] = v;
        v.byFunction[fn] = mergeUsage(v.byFunction[fn] ?? emptyUsage(), share);
        v.records[fn] = (v.records[fn] ?? 0) + 1;
      }
    }
  }
  const emf = (
    line._aws as
      | {
          CloudWatchMetrics?: {
            Namespace?: string;
            Dimensions?: string[][];
            Metrics?: { Name?: string }[];
          }[];
        }
      | undefined
  )?.CloudWatchMetrics;
  for (const m of emf ?? []) {
    for (const dims of m.Dimensions ?? [[]]) {
      const key = dims.map((d) => `${d}=${String(line[d])}`).join(',');
      for (const metric of m.Metrics ?? []) {
        const id = `${m.Namespace}|${metric.Name}|${key}`;
        series.add(id);
        if (dims.includes('vmId')) vmSeries.add(id);
      }
    }
  }
  into.metricSeries = { total: series.size, perVm: vmSeries.size };
}

/**
 * Reads every log line the named functions wrote between `startMs` and `endMs` (ms since the epoch) from
 * `/aws/lambda/<name>` and the function's configured log group.
 */
export async function readLoggedUsage(
  clients: Clients,
  functionNames: readonly string[],
  startMs: number,
  endMs: number,
): Promise<LoggedUsage> {
  const out = emptyLoggedUsage();
  const series = new Set<string>();
  const vmSeries = new Set<string>();
  for (const fn of functionNames) {
    await forEachLogLine(clients, fn, startMs, endMs, (line, at) =>
      absorbLogLine(out, series, vmSeries, line, at),
    );
  }
  return out;
}
