/**
 * The cost model: counted usage over a measured window → AWS cost per protected VM-month, by line item,
 * at the prices of a price file. Pure arithmetic; every input is a count, so a change that cuts requests
 * (lean state documents, merged timer chains, a fleet sharing one stack) shows up by measuring again.
 */
import { type PriceFile, type PriceId, unitPrice } from './prices.ts';
import { type AwsUsage, sumRequests } from './usage.ts';

/** Hours in the month the model bills (AWS's calculators use 730). */
export const HOURS_PER_MONTH = 730;

/** Milliseconds in that month. */
export const MS_PER_MONTH = HOURS_PER_MONTH * 3600 * 1000;

/** Bytes in the GB that AWS prices logs and storage by (2^30, as CloudWatch and S3 meter). */
export const BYTES_PER_GB = 1024 ** 3;

/**
 * Bytes the Lambda platform adds to a function's log per invocation (`START`, `END`, `REPORT` lines);
 * an estimate from their format (~90 + ~60 + ~150 bytes), not a measured figure.
 */
export const PLATFORM_LOG_BYTES_PER_INVOCATION = 300;

/** S3 operations billed at the PUT, COPY, POST, LIST price; DELETE is free; all others are GET-priced. */
const S3_TIER1 = new Set([
  'PutObject',
  'CopyObject',
  'PostObject',
  'ListObjects',
  'ListObjectsV2',
  'ListObjectVersions',
  'CreateMultipartUpload',
  'UploadPart',
  'UploadPartCopy',
  'CompleteMultipartUpload',
  'ListMultipartUploads',
  'ListParts',
]);
const S3_FREE = new Set(['DeleteObject', 'DeleteObjects', 'AbortMultipartUpload']);

/** What the deployment holds regardless of traffic, per deployment (shared by its VMs). */
export interface DeploymentShape {
  /** Protected VMs the deployment serves (1: a stack per VM, as today). */
  vmsPerDeployment: number;
  /** Queues with a Lambda event-source mapping, by kind (today: 3 standard tick queues, 2 FIFO channels). */
  polledQueues: { sqs: number; 'sqs-fifo': number };
  /**
   * Long polls an idle event-source mapping makes per queue per minute: AWS documents that Lambda polls
   * with several pollers; 5 pollers × 20 s long polls = 15 is an assumption (not confirmed), billed even
   * when the queue is empty.
   */
  idlePollsPerQueuePerMinute: number;
  /** EventBridge scheduled-rule invocations per month (the watchdog: one a minute, 43 800). */
  ruleInvocationsPerMonth: number;
  /** Secrets Manager secrets. */
  secrets: number;
  /** CloudWatch alarms (standard resolution). */
  alarms: number;
  /** CloudWatch dashboards. */
  dashboards: number;
  /** Custom metric series with no VM dimension (shared by the deployment's VMs). */
  sharedMetrics: number;
  /** Custom metric series per VM (series with a VM-id dimension). */
  metricsPerVm: number;
}

/**
 * The stack (lib/colo-stack.ts) with one VM: 3 tick queues, 2 FIFO channels, a rule, a secret, 22 alarms and a
 * dashboard (test/unit/stack/operability.test.ts pins the counts to the synthesized template). Set
 * `vmsPerDeployment` for a fleet stack.
 */
export const SINGLE_VM_STACK: DeploymentShape = {
  vmsPerDeployment: 1,
  polledQueues: { sqs: 3, 'sqs-fifo': 2 },
  idlePollsPerQueuePerMinute: 15,
  ruleInvocationsPerMonth: 60 * HOURS_PER_MONTH,
  secrets: 1,
  alarms: 22,
  dashboards: 1,
  sharedMetrics: 0,
  metricsPerVm: 0,
};

/** Lambda architecture (prices differ). */
export type Architecture = 'x86_64' | 'arm64';

/** What the model prices. */
export interface CostInput {
  /** What the functions did over the window, summed over the VMs measured. */
  usage: AwsUsage;
  /** Length of the measured window, ms. */
  windowMs: number;
  /** VMs the usage covers. */
  vms: number;
  /** Function architecture; default `x86_64` (the stack's). */
  architecture?: Architecture;
  /** The deployment's fixed parts; default {@link SINGLE_VM_STACK}. */
  deployment?: DeploymentShape;
  /** Bytes stored in S3 per VM (deltas and state), averaged over the month; default 0. */
  storedBytesPerVm?: number;
  /** Prices. */
  prices: PriceFile;
}

/** One line of the bill, per protected VM-month. */
export interface CostLine {
  /** Stable id (`s3-put`, `lambda-duration`, …). */
  id: string;
  /** What it is, in words. */
  label: string;
  /** Quantity per VM-month, in `unit`. */
  quantity: number;
  /** Unit of `quantity`. */
  unit: string;
  /** Cost per VM-month, USD. */
  usd: number;
  /** The price it is billed at. */
  price: PriceId;
  /** True for a cost of the deployment shared by its VMs (does not scale with traffic). */
  fixed: boolean;
}

/** The model's answer. */
export interface CostReport {
  /** Price file date and region. */
  priceDate: string;
  region: string;
  /** Measured window, ms, and VMs in it. */
  windowMs: number;
  vms: number;
  /** Sum of the lines, USD per protected VM-month. */
  perVmMonthUsd: number;
  /** Lines, most expensive first. */
  lines: CostLine[];
}

/**
 * Prices `input`'s usage per protected VM-month.
 *
 * @throws RangeError when the window or VM count is not positive.
 */
export function costPerVmMonth(input: CostInput): CostReport {
  if (!(input.windowMs > 0)) throw new RangeError(`windowMs must be > 0, got ${input.windowMs}`);
  if (!(input.vms > 0)) throw new RangeError(`vms must be > 0, got ${input.vms}`);
  const d = input.deployment ?? SINGLE_VM_STACK;
  if (!(d.vmsPerDeployment > 0))
    throw new RangeError(`vmsPerDeployment must be > 0, got ${d.vmsPerDeployment}`);
  const u = input.usage;
  const perVmMonth = MS_PER_MONTH / input.windowMs / input.vms;
  const perVmShare = 1 / d.vmsPerDeployment;
  const p = input.prices.prices;
  const lines: CostLine[] = [];
  const add = (
    id: string,
    label: string,
    quantity: number,
    unit: string,
    price: PriceId,
    fixed = false,
  ): void => {
    lines.push({ id, label, quantity, unit, price, fixed, usd: quantity * unitPrice(p[price]) });
  };
  const requests = (match: (s: string, op: string) => boolean) => sumRequests(u, match, (t) => t.billed);

  add('lambda-requests', 'Lambda invocations', u.invocations * perVmMonth, 'requests', 'lambdaRequests');
  add(
    'lambda-duration',
    `Lambda duration (${input.architecture ?? 'x86_64'})`,
    u.gbSeconds * perVmMonth,
    'GB-s',
    input.architecture === 'arm64' ? 'lambdaGbSecondArm64' : 'lambdaGbSecondX86',
  );
  add(
    's3-put',
    'S3 PUT/LIST requests',
    requests((s, op) => s === 's3' && S3_TIER1.has(op)) * perVmMonth,
    'requests',
    's3PutCopyPostList',
  );
  add(
    's3-get',
    'S3 GET/HEAD requests',
    requests((s, op) => s === 's3' && !S3_TIER1.has(op) && !S3_FREE.has(op)) * perVmMonth,
    'requests',
    's3GetAndOther',
  );
  add(
    's3-storage',
    'S3 storage (deltas, state)',
    (input.storedBytesPerVm ?? 0) / BYTES_PER_GB,
    'GB-months',
    's3StandardStorage',
  );
  // Lambda's poller: one ReceiveMessage and one DeleteMessageBatch per delivered batch.
  add(
    'sqs-fifo',
    'SQS FIFO requests (channels: sends, receives, deletes)',
    (requests((s) => s === 'sqs-fifo') + 2 * u.esmBatches['sqs-fifo']) * perVmMonth,
    'requests',
    'sqsFifoRequests',
  );
  add(
    'sqs-standard',
    'SQS standard requests (tick chains: sends, receives, deletes)',
    (requests((s) => s === 'sqs') + 2 * u.esmBatches.sqs) * perVmMonth,
    'requests',
    'sqsStandardRequests',
  );
  const idlePolls = d.idlePollsPerQueuePerMinute * 60 * HOURS_PER_MONTH * perVmShare;
  add(
    'sqs-idle-fifo',
    'SQS FIFO idle long polls (event-source mappings)',
    idlePolls * d.polledQueues['sqs-fifo'],
    'requests',
    'sqsFifoRequests',
    true,
  );
  add(
    'sqs-idle-standard',
    'SQS standard idle long polls (event-source mappings)',
    idlePolls * d.polledQueues.sqs,
    'requests',
    'sqsStandardRequests',
    true,
  );
  add(
    'logs-ingestion',
    'CloudWatch Logs ingestion',
    ((u.logBytes + u.invocations * PLATFORM_LOG_BYTES_PER_INVOCATION) * perVmMonth) / BYTES_PER_GB,
    'GB',
    'cloudwatchLogsIngestion',
  );
  add(
    'metrics',
    'CloudWatch custom metrics (EMF)',
    d.metricsPerVm + d.sharedMetrics * perVmShare,
    'metric-months',
    'cloudwatchCustomMetric',
    d.metricsPerVm === 0,
  );
  add('alarms', 'CloudWatch alarms', d.alarms * perVmShare, 'alarm-months', 'cloudwatchAlarm', true);
  add(
    'dashboards',
    'CloudWatch dashboards',
    d.dashboards * perVmShare,
    'dashboard-months',
    'cloudwatchDashboard',
    true,
  );
  add(
    'secrets-api',
    'Secrets Manager GetSecretValue',
    requests((s) => s === 'secretsmanager') * perVmMonth,
    'API calls',
    'secretsManagerApiCalls',
  );
  add(
    'secrets',
    'Secrets Manager secret',
    d.secrets * perVmShare,
    'secret-months',
    'secretsManagerSecret',
    true,
  );
  add(
    'eventbridge',
    'EventBridge watchdog rule',
    d.ruleInvocationsPerMonth * perVmShare,
    'invocations',
    'eventbridgeRuleInvocations',
    true,
  );
  lines.sort((a, b) => b.usd - a.usd);
  return {
    priceDate: input.prices.date,
    region: input.prices.region,
    windowMs: input.windowMs,
    vms: input.vms,
    perVmMonthUsd: lines.reduce((s, l) => s + l.usd, 0),
    lines,
  };
}
