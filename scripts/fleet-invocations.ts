/**
 * `npx tsx scripts/fleet-invocations.ts <stack> [--minutes M]`: how a deployed fleet stack's functions were
 * invoked over the last M minutes (default 10), read back from their CloudWatch logs — per function, the
 * invocations, how many ran at once (from each invocation's `aws usage` record: it ends at the record's
 * time and lasted its billed duration), and the batch composition the fleet dispatcher counted
 * (`BatchRecords`, `BatchVms` per SQS invocation). Answers "does an event source hand one VM at a time to
 * its function?" on LocalStack (docs/cloud.md, "A fleet on one stack").
 */
import { FilterLogEventsCommand, type FilterLogEventsCommandOutput } from '@aws-sdk/client-cloudwatch-logs';
import { GetFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import { clientsFor, endpointFromEnv } from '../src/runtime/localstack/aws.ts';
import { describeStackOutputs } from '../src/runtime/localstack/stack.ts';

const args = process.argv.slice(2);
const stackName = args.find((a) => !a.startsWith('--'));
const minutesAt = args.indexOf('--minutes');
const minutes = minutesAt >= 0 ? Number(args[minutesAt + 1]) : 10;
if (!stackName || !(minutes > 0)) {
  process.stderr.write('usage: npx tsx scripts/fleet-invocations.ts <stack> [--minutes M]\n');
  process.exit(1);
}

const clients = clientsFor(endpointFromEnv());

interface Invocation {
  /** Start and end, ms since the epoch. */
  from: number;
  to: number;
}

interface FunctionFigures {
  invocations: Invocation[];
  batchVms: number[];
  batchRecords: number[];
}

async function readFunction(fn: string, startMs: number, endMs: number): Promise<FunctionFigures> {
  const out: FunctionFigures = { invocations: [], batchVms: [], batchRecords: [] };
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
        let line: Record<string, unknown>;
        try {
          line = JSON.parse(text.slice(at)) as Record<string, unknown>;
        } catch {
          continue;
        }
        const usage = line.usage as { billedMs?: unknown } | undefined;
        if (line.message === 'aws usage' && typeof usage?.billedMs === 'number') {
          // The record is written as the invocation ends; its own time stamp says when.
          const to = typeof line.timestamp === 'string' ? Date.parse(line.timestamp) : (e.timestamp ?? 0);
          out.invocations.push({ from: to - usage.billedMs, to });
        }
        if (typeof line.BatchVms === 'number') out.batchVms.push(line.BatchVms);
        if (typeof line.BatchRecords === 'number') out.batchRecords.push(line.BatchRecords);
      }
      if (!r.nextToken || r.nextToken === token) break;
      token = r.nextToken;
    }
  }
  return out;
}

/** Most invocations running at one instant, and the mean number running while at least one was. */
function concurrency(invocations: readonly Invocation[]): { max: number; meanBusy: number; busyPct: number } {
  const edges = invocations.flatMap((i) => [
    { t: i.from, d: 1 },
    { t: i.to, d: -1 },
  ]);
  edges.sort((a, b) => a.t - b.t || a.d - b.d);
  let running = 0;
  let max = 0;
  let busyMs = 0;
  let weighted = 0;
  let last = edges[0]?.t ?? 0;
  for (const e of edges) {
    if (running > 0) {
      busyMs += e.t - last;
      weighted += running * (e.t - last);
    }
    running += e.d;
    max = Math.max(max, running);
    last = e.t;
  }
  const span = invocations.length
    ? Math.max(...invocations.map((i) => i.to)) - Math.min(...invocations.map((i) => i.from))
    : 0;
  return { max, meanBusy: busyMs ? weighted / busyMs : 0, busyPct: span ? (100 * busyMs) / span : 0 };
}

function histogram(values: readonly number[]): string {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => a[0] - b[0])
    .map(([v, n]) => `${v}:${n}`)
    .join(' ');
}

const outputs = await describeStackOutputs(clients, stackName);
const endMs = Date.now();
const startMs = endMs - minutes * 60_000;
process.stdout.write(
  `${stackName}, last ${minutes} min: per function — invocations, most at once, mean at once while busy, busy % of the span; SQS batches: VMs per invocation (value:count), mean records\n`,
);
for (const fn of outputs.functionNames) {
  const f = await readFunction(fn, startMs, endMs);
  const c = concurrency(f.invocations);
  const meanRecords = f.batchRecords.length
    ? f.batchRecords.reduce((a, b) => a + b, 0) / f.batchRecords.length
    : 0;
  process.stdout.write(
    `${fn}: ${f.invocations.length} invocations, at once max ${c.max}, mean ${c.meanBusy.toFixed(2)} (busy ${c.busyPct.toFixed(0)} %)` +
      (f.batchVms.length
        ? `; VMs/batch ${histogram(f.batchVms)}; records/batch ${meanRecords.toFixed(2)}`
        : '') +
      '\n',
  );
}
