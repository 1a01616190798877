/**
 * Reads the functions' per-invocation `aws usage` records (lambda/handlers/common/usage-report.ts) back
 * from CloudWatch Logs for a time window, summed per function, and counts the EMF metric series the
 * functions published (what CloudWatch would bill as custom metrics).
 */
import { type AwsUsage, emptyUsage, mergeUsage } from '../../cost/usage.ts';
import type { Clients } from './aws.ts';
import { forEachLogLine } from './function-logs.ts';

/** The message the usage records carry (lambda/handlers/common/usage-report.ts). */
const USAGE_MESSAGE = 'aws usage';

/** What the logs of a window held. */
export interface LoggedUsage {
  /** Usage by function role (the record's `function`). */
  byFunction: Record<string, AwsUsage>;
  /** Usage records read. */
  records: number;
  /** Distinct EMF metric series seen, and how many of them carry a `vmId` dimension. */
  metricSeries: { total: number; perVm: number };
}

/** Adds one parsed log line to `into` (usage record or EMF blob); other lines are ignored. */
export function absorbLogLine(
  into: LoggedUsage,
  series: Set<string>,
  vmSeries: Set<string>,
  line: Record<string, unknown>,
): void {
  if (line.message === USAGE_MESSAGE && typeof line.usage === 'object' && line.usage !== null) {
    const fn = typeof line.function === 'string' ? line.function : 'unknown';
    into.byFunction[fn] = mergeUsage(into.byFunction[fn] ?? emptyUsage(), line.usage as AwsUsage);
    into.records++;
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
  const out: LoggedUsage = { byFunction: {}, records: 0, metricSeries: { total: 0, perVm: 0 } };
  const series = new Set<string>();
  const vmSeries = new Set<string>();
  for (const fn of functionNames) {
    await forEachLogLine(clients, fn, startMs, endMs, (line) => absorbLogLine(out, series, vmSeries, line));
  }
  return out;
}
