/**
 * `colo cost REPORT.json`: prices the usage a `colo run --backend localstack --json` report measured
 * again — with another price file, arm64, or N VMs sharing one deployment — and prints the breakdown and
 * the levers (or the cost section as JSON). Reads a file, writes to stdout; touches nothing else.
 */
import { readFileSync } from 'node:fs';
import { formatCostSection } from '../cost/format.ts';
import { BYTES_PER_GB, SINGLE_VM_STACK } from '../cost/model.ts';
import { CURRENT_PRICES, type PriceFile, PriceFileError, parsePriceFile } from '../cost/prices.ts';
import { type CostSection, costSection } from '../cost/section.ts';
import { usageProblem, withMsPerInvocation } from '../cost/usage.ts';
import { REPORT_VERSION } from '../runtime/report.ts';

/** Flags of `colo cost`. */
export interface CostFlags {
  /** A price file (default: the shipped one). */
  prices?: string;
  /** VMs sharing one deployment's fixed costs (default 1). */
  vmsPerDeployment?: string;
  /** Price Lambda duration at the arm64 rate. */
  arm64?: boolean;
  /** Print the cost section as JSON instead of the table. */
  json?: boolean;
  /**
   * Billed duration per invocation to assume instead of the measured one, ms (a what-if: a loaded
   * emulator runs each invocation far longer than Lambda would).
   */
  msPerInvocation?: string;
}

/** Bad input to `colo cost` (one line). */
export class CostInputError extends Error {
  override readonly name = 'CostInputError';
}

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : code === 'EACCES'
            ? 'not readable (permission denied)'
            : (code ?? String(e));
    throw new CostInputError(`${what} ${path}: ${why}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new CostInputError(`${what} ${path}: not JSON`);
  }
}

/** Why a report's deployed parameters cannot be priced (each period and the memory a number > 0), if so. */
function paramsProblem(given: object): string | undefined {
  const params = given as Record<string, unknown>;
  for (const k of ['checkpointDelayMs', 'pendingCheckIntervalMs', 'heartbeatIntervalMs', 'memoryMb']) {
    const v = params[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) return `params.${k} is not a number > 0`;
  }
  const chain = params.heartbeatChainMs;
  if (chain !== undefined && (typeof chain !== 'number' || !Number.isFinite(chain) || chain <= 0))
    return 'params.heartbeatChainMs is not a number > 0';
  return undefined;
}

/**
 * Why the breakdown's parts `colo cost` reads again (its window, VMs, metric series and storage) cannot be
 * priced, if so.
 */
function breakdownProblem(b: { windowMs: number; vms: number; lines?: unknown }): string | undefined {
  // A window no run can have (1e-300 ms, 1e308 ms) would price to Infinity or NaN: bounded like a run.
  if (typeof b.windowMs !== 'number' || !(b.windowMs >= 1 && b.windowMs <= MAX_WINDOW_MS))
    return `breakdown.windowMs is not a number of ms in [1, ${MAX_WINDOW_MS}] (${JSON.stringify(b.windowMs)})`;
  if (!Number.isInteger(b.vms) || b.vms < 1) return `breakdown.vms is not a whole number ≥ 1 (${b.vms})`;
  const lines = b.lines;
  if (lines === undefined) return undefined;
  if (!Array.isArray(lines)) return 'breakdown.lines is not a list';
  for (const l of lines as { id?: unknown; quantity?: unknown }[]) {
    if (typeof l !== 'object' || l === null) return 'breakdown.lines holds a non-object';
    const q = l.quantity;
    if (
      (l.id === 'metrics' || l.id === 's3-storage') &&
      (typeof q !== 'number' || !Number.isFinite(q) || q < 0)
    )
      return `breakdown.lines ${String(l.id)}: quantity is not a number ≥ 0`;
  }
  return undefined;
}

/** Largest `--ms-per-invocation`, ms: Lambda's 15-minute invocation limit. */
export const MAX_MS_PER_INVOCATION = 900_000;

/** Longest measured window a report may give, ms (a year: no run is longer). */
const MAX_WINDOW_MS = 366 * 24 * 3_600_000;

/** Largest `--vms-per-deployment`: far beyond the quotas docs/cloud.md lists for one stack. */
export const MAX_VMS_PER_DEPLOYMENT = 1_000_000;

/**
 * Re-prices a report's measured usage.
 *
 * @throws CostInputError (file missing, not a report with a measured cost section, bad flag) or
 *   PriceFileError (the price file does not validate).
 */
export function costCommand(reportPath: string, flags: CostFlags): { section: CostSection; lines: string[] } {
  const report = readJson(reportPath, 'report') as {
    version?: unknown;
    cost?: Partial<CostSection> & { error?: string };
  };
  // A report of another version may mean anything by its fields: price none of it.
  if (
    report !== null &&
    typeof report === 'object' &&
    !Array.isArray(report) &&
    report.version !== REPORT_VERSION
  )
    throw new CostInputError(
      `report ${reportPath}: version ${JSON.stringify(report.version)}, this colo reads version ${REPORT_VERSION}`,
    );
  const cost = report?.cost;
  if (!cost || typeof cost !== 'object')
    throw new CostInputError(
      `report ${reportPath} has no cost section (colo run --backend localstack --json writes one)`,
    );
  if (cost.error) throw new CostInputError(`report ${reportPath}: cost not measured: ${cost.error}`);
  if (!cost.usage || !cost.params || !cost.breakdown)
    throw new CostInputError(
      `report ${reportPath}: cost section without usage counts (written by an older colo?)`,
    );
  const problem = usageProblem(cost.usage) ?? paramsProblem(cost.params) ?? breakdownProblem(cost.breakdown);
  if (problem) throw new CostInputError(`report ${reportPath}: cost section: ${problem}`);
  const vms = flags.vmsPerDeployment === undefined ? 1 : Number(flags.vmsPerDeployment);
  if (!Number.isInteger(vms) || vms < 1 || vms > MAX_VMS_PER_DEPLOYMENT)
    throw new CostInputError(
      `--vms-per-deployment must be a whole number in [1, ${MAX_VMS_PER_DEPLOYMENT}], got ${flags.vmsPerDeployment}`,
    );
  let byFunction = cost.usage;
  if (flags.msPerInvocation !== undefined) {
    const ms = Number(flags.msPerInvocation);
    if (!Number.isFinite(ms) || ms < 1 || ms > MAX_MS_PER_INVOCATION)
      throw new CostInputError(
        `--ms-per-invocation must be a number of ms in [1, ${MAX_MS_PER_INVOCATION}] (Lambda's 15 min limit), got ${flags.msPerInvocation}`,
      );
    byFunction = withMsPerInvocation(byFunction, ms, cost.params.memoryMb);
  }
  let prices: PriceFile = CURRENT_PRICES;
  if (flags.prices !== undefined) prices = parsePriceFile(readJson(flags.prices, 'price file'), flags.prices);
  // The report's metric line is the per-VM share of its deployment's series. A `fixed` line has no series
  // with a VM dimension: all of them are shared, so --vms-per-deployment divides them (the report's own
  // deployment served the report's VMs); otherwise they are per VM and stay.
  const metricsLine = cost.breakdown.lines?.find((l) => l.id === 'metrics');
  const metricSeries = metricsLine?.quantity ?? 0;
  const metrics = metricsLine?.fixed
    ? { metricsPerVm: 0, sharedMetrics: metricSeries * cost.breakdown.vms }
    : { metricsPerVm: metricSeries, sharedMetrics: 0 };
  // Storage per VM as the report measured it (GB-months per VM-month are GB held).
  const storageLine = cost.breakdown.lines?.find((l) => l.id === 's3-storage');
  const storedBytesPerVm = (storageLine?.quantity ?? 0) * BYTES_PER_GB;
  const priced = costSection(
    {
      byFunction,
      windowMs: cost.breakdown.windowMs,
      vms: cost.breakdown.vms,
      architecture: flags.arm64 ? 'arm64' : 'x86_64',
      deployment: { ...SINGLE_VM_STACK, vmsPerDeployment: vms, ...metrics },
      storedBytesPerVm,
      prices,
    },
    cost.params,
  );
  const caution = typeof cost.caution === 'string' ? { caution: cost.caution.slice(0, 500) } : {};
  const section =
    flags.msPerInvocation === undefined
      ? { ...priced, ...caution }
      : { ...priced, ...caution, durationModelMs: Number(flags.msPerInvocation) };
  return { section, lines: flags.json ? [JSON.stringify(section, null, 2)] : formatCostSection(section) };
}

export { PriceFileError };
