/**
 * What a function (or the local driver) asked of AWS over some window: requests by service and operation
 * with their bytes, Lambda invocations with their billed duration and memory, log bytes, and the SQS
 * batches Lambda's event-source pollers fetched for it. Pure data with merge and scale helpers; the
 * counting itself is lambda/adapters/usage-meter.ts, the pricing model.ts.
 */

/** One operation's tally. */
export interface RequestTally {
  /** HTTP requests made (each retry attempt counts: AWS bills attempts). */
  requests: number;
  /**
   * Requests as billed: equal to `requests` except on SQS, where every 64 KiB chunk of a request's payload
   * is billed as one request (counted from the HTTP body, a slight over-estimate of the message payload).
   */
  billed: number;
  /** Request body bytes sent. */
  bytesOut: number;
  /** Response body bytes received (Content-Length). */
  bytesIn: number;
  /** Requests answered with HTTP 4xx/5xx or failed on the network (billed all the same). */
  errors: number;
}

/**
 * Services the meter tells apart. `sqs` is a standard queue, `sqs-fifo` a FIFO queue (its URL ends in
 * `.fifo`; FIFO requests cost more); `other` is any client the price file has no line for.
 */
export type MeteredService =
  | 's3'
  | 'sqs'
  | 'sqs-fifo'
  | 'secretsmanager'
  | 'logs'
  | 'lambda'
  | 'cloudformation'
  | 'other';

/** Usage over a window. Every field is a sum, so usages add. */
export interface AwsUsage {
  /** Requests by `<service>:<Operation>` (e.g. `s3:PutObject`, `sqs-fifo:SendMessageBatch`). */
  requests: Record<string, RequestTally>;
  /** Lambda invocations. */
  invocations: number;
  /** Billed duration summed over invocations, ms (each invocation rounded up to 1 ms, as Lambda bills). */
  billedMs: number;
  /** Billed duration × configured memory, GB-seconds (memory in GiB as Lambda counts it: MB / 1024). */
  gbSeconds: number;
  /** Bytes written to the functions' logs (stdout/stderr), what CloudWatch Logs ingests. */
  logBytes: number;
  /**
   * SQS batches delivered to the functions by event-source mappings, by queue kind: on AWS Lambda's
   * poller made one `ReceiveMessage` and one `DeleteMessageBatch` for each (billed to the account, but no
   * function's request).
   */
  esmBatches: { sqs: number; 'sqs-fifo': number };
}

/** A usage with nothing in it. */
export function emptyUsage(): AwsUsage {
  return {
    requests: {},
    invocations: 0,
    billedMs: 0,
    gbSeconds: 0,
    logBytes: 0,
    esmBatches: { sqs: 0, 'sqs-fifo': 0 },
  };
}

/** Largest SQS payload billed as one request, bytes (64 KiB). */
export const SQS_BILLING_CHUNK_BYTES = 64 * 1024;

/**
 * Requests one HTTP request is billed as: on SQS one per started 64 KiB chunk of the larger of its request
 * and response bodies (a `ReceiveMessage` returns its payload), at least 1; elsewhere 1.
 */
export function billedRequests(service: MeteredService, bytesOut: number, bytesIn: number): number {
  if (service !== 'sqs' && service !== 'sqs-fifo') return 1;
  return Math.max(1, Math.ceil(Math.max(bytesOut, bytesIn) / SQS_BILLING_CHUNK_BYTES));
}

/** Service and operation of a request key (`s3:PutObject` → `['s3', 'PutObject']`). */
export function splitKey(key: string): [MeteredService, string] {
  const i = key.indexOf(':');
  return [key.slice(0, i) as MeteredService, key.slice(i + 1)];
}

function tally(usage: AwsUsage, key: string): RequestTally {
  let t = usage.requests[key];
  if (t === undefined) {
    t = { requests: 0, billed: 0, bytesOut: 0, bytesIn: 0, errors: 0 };
    usage.requests[key] = t;
  }
  return t;
}

/**
 * Adds one request to `usage` (mutates it; the meter's hot path).
 *
 * @param bytesOut - Request body, bytes.
 * @param bytesIn - Response body, bytes.
 */
export function addRequest(
  usage: AwsUsage,
  service: MeteredService,
  operation: string,
  bytesOut: number,
  bytesIn: number,
  failed: boolean,
): void {
  const key = `${service}:${operation}`;
  const t = tally(usage, key);
  t.requests++;
  t.billed += billedRequests(service, bytesOut, bytesIn);
  t.bytesOut += bytesOut;
  t.bytesIn += bytesIn;
  if (failed) t.errors++;
}

/** `a + b`, a new usage. */
export function mergeUsage(a: AwsUsage, b: AwsUsage): AwsUsage {
  return scaleAndAdd(scaleUsage(a, 1), b, 1);
}

/** Every count of `u` times `factor` (a what-if: a timer twice as often is `factor` 2). */
export function scaleUsage(u: AwsUsage, factor: number): AwsUsage {
  return scaleAndAdd(emptyUsage(), u, factor);
}

function scaleAndAdd(into: AwsUsage, u: AwsUsage, f: number): AwsUsage {
  for (const [key, t] of Object.entries(u.requests)) {
    const d = tally(into, key);
    d.requests += t.requests * f;
    d.billed += t.billed * f;
    d.bytesOut += t.bytesOut * f;
    d.bytesIn += t.bytesIn * f;
    d.errors += t.errors * f;
  }
  into.invocations += u.invocations * f;
  into.billedMs += u.billedMs * f;
  into.gbSeconds += u.gbSeconds * f;
  into.logBytes += u.logBytes * f;
  into.esmBatches.sqs += u.esmBatches.sqs * f;
  into.esmBatches['sqs-fifo'] += u.esmBatches['sqs-fifo'] * f;
  return into;
}

/**
 * Each function's usage with every invocation billed `ms` (a what-if: a loaded emulator runs an invocation
 * far longer than Lambda would), at the function's own memory as its records give it (GB-s per billed
 * second), or `fallbackMemoryMb` where it billed nothing.
 */
export function withMsPerInvocation(
  byFunction: Readonly<Record<string, AwsUsage>>,
  ms: number,
  fallbackMemoryMb: number,
): Record<string, AwsUsage> {
  return Object.fromEntries(
    Object.entries(byFunction).map(([fn, u]) => {
      const gb =
        u.billedMs > 0 && u.gbSeconds > 0 ? (u.gbSeconds * 1000) / u.billedMs : fallbackMemoryMb / 1024;
      return [fn, { ...u, billedMs: u.invocations * ms, gbSeconds: (u.invocations * ms * gb) / 1000 }];
    }),
  );
}

/** Sum of `pick(tally)` over the requests whose key `match`es. */
export function sumRequests(
  u: AwsUsage,
  match: (service: MeteredService, operation: string) => boolean,
  pick: (t: RequestTally) => number = (t) => t.requests,
): number {
  let n = 0;
  for (const [key, t] of Object.entries(u.requests)) {
    const [service, op] = splitKey(key);
    if (match(service, op)) n += pick(t);
  }
  return n;
}

const TALLY_FIELDS = ['requests', 'billed', 'bytesOut', 'bytesIn', 'errors'] as const;
const USAGE_FIELDS = ['invocations', 'billedMs', 'gbSeconds', 'logBytes'] as const;

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Why `byFunction` (a report's `cost.usage`, read from a file) is not a usage per function — the first
 * field that is missing, not a finite count ≥ 0, or of the wrong shape, by its path — or undefined when it
 * is one. Pure: a report priced again is checked whole before any arithmetic runs on it.
 */
export function usageProblem(byFunction: unknown): string | undefined {
  if (!isRecord(byFunction)) return 'usage is not an object of functions';
  for (const [fn, u] of Object.entries(byFunction)) {
    if (!isRecord(u)) return `usage.${fn} is not an object`;
    for (const f of USAGE_FIELDS) if (!isCount(u[f])) return `usage.${fn}.${f} is not a count ≥ 0`;
    const esm = u.esmBatches;
    if (!isRecord(esm) || !isCount(esm.sqs) || !isCount(esm['sqs-fifo']))
      return `usage.${fn}.esmBatches needs counts ≥ 0 for sqs and sqs-fifo`;
    if (!isRecord(u.requests)) return `usage.${fn}.requests is not an object`;
    for (const [op, t] of Object.entries(u.requests)) {
      if (!/^[a-z0-9-]+:[A-Za-z0-9]+$/.test(op))
        return `usage.${fn}.requests: "${op}" is not <service>:<Operation>`;
      if (!isRecord(t)) return `usage.${fn}.requests.${op} is not an object`;
      for (const f of TALLY_FIELDS)
        if (!isCount(t[f])) return `usage.${fn}.requests.${op}.${f} is not a count ≥ 0`;
    }
  }
  return undefined;
}
