/**
 * Reads the functions' per-invocation `aws usage` records (lambda/handlers/common/usage-report.ts) back
 * from CloudWatch Logs for a time window, summed per function, and counts the EMF metric series the
 * functions published (what CloudWatch would bill as custom metrics).
 */
import { FilterLogEventsCommand, type FilterLogEventsCommandOutput } from '@aws-sdk/client-cloudwatch-logs';
import { GetFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import { type AwsUsage, emptyUsage, mergeUsage } from '../../cost/usage.ts';
import type { Clients } from './aws.ts';

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
    const conf = await clients.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: fn }));
    const groups = [
      ...new Set([`/aws/lambda/${fn}`, conf.LoggingConfig?.LogGroup].filter((g): g is string => !!g)),
    ];
    const seen = new Set<string>();
    for (const group of groups) {
      let token: string | undefined;
      for (let page = 0; page < 10_000; page++) {
        let r: FilterLogEventsCommandOutput;
        try {
          r = await clients.logs.send(
            new FilterLogEventsCommand({
              logGroupName: group,
              startTime: startMs,
              endTime: endMs,
              ...(token ? { nextToken: token } : {}),
            }),
          );
        } catch (e) {
          if ((e as { name?: string }).name === 'ResourceNotFoundException') break;
          throw e;
        }
        for (const e of r.events ?? []) {
          const id = e.eventId ?? `${e.logStreamName}/${e.timestamp}/${e.message}`;
          if (seen.has(id)) continue;
          seen.add(id);
          const text = e.message ?? '';
          const at = text.indexOf('{');
          if (at < 0) continue;
          try {
            absorbLogLine(out, series, vmSeries, JSON.parse(text.slice(at)) as Record<string, unknown>);
          } catch {
            // Not JSON: a platform line or console output.
          }
        }
        if (!r.nextToken || r.nextToken === token) break;
        token = r.nextToken;
      }
    }
  }
  return out;
}
