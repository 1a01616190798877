/**
 * The `cost` section of a run report: the breakdown per VM-month, the levers, the usage per VM-hour
 * behind them, and the requests the local driver itself made (not part of the VM's cost).
 */
import {
  atNominalRates,
  type LeverEffect,
  type LeverInput,
  type LeverParams,
  leverEffects,
  usageToPrice,
} from './levers.ts';
import { type CostReport, costPerVmMonth, SINGLE_VM_STACK } from './model.ts';
import { type AwsUsage, sumRequests, withMsPerInvocation } from './usage.ts';

/**
 * The shape the cost target is stated for (docs/cloud.md, "Cost per VM-month"): one stack shared by 100 VMs,
 * each invocation billed 50 ms as on Lambda (a loaded emulator bills its own waits).
 */
export const COST_YARDSTICK = { vmsPerDeployment: 100, msPerInvocation: 50 } as const;

/** The same usage priced at {@link COST_YARDSTICK}: what a one-VM run says about a fleet's VM. */
export interface CostYardstick {
  /** VMs sharing the deployment's fixed costs and stack chains. */
  vmsPerDeployment: number;
  /** Billed duration per invocation, ms. */
  msPerInvocation: number;
  /** Total per VM-month, tick chains at their nominal rates, USD. */
  perVmMonthUsd: number;
}

/** Usage per VM-hour, the figures the issue asks for. */
export interface UsagePerVmHour {
  /** Requests by `<service>:<Operation>`. */
  requests: Record<string, number>;
  /** Request and response body bytes, all services. */
  bytes: number;
  /** Lambda invocations. */
  invocations: number;
  /** Lambda GB-seconds. */
  gbSeconds: number;
  /** Bytes written to the functions' logs. */
  logBytes: number;
}

/** The `cost` section of a report (docs/report-format.md). */
export interface CostSection {
  /**
   * The breakdown per protected VM-month with the tick chains at their nominal rates (the measured cost
   * per tick × the ticks AWS would deliver): the figure to quote.
   */
  breakdown: CostReport;
  /** Total per VM-month exactly as measured (the emulator's slower tick delivery included), USD. */
  measuredPerVmMonthUsd: number;
  /** Factor applied to each function's measured usage to reach the nominal rates. */
  nominalFactors: Record<string, number>;
  /** Each lever's effect, from the nominal-rate usage. */
  levers: LeverEffect[];
  /** What the functions did, per VM-hour, at the nominal rates. */
  perVmHour: UsagePerVmHour;
  /** Per function: invocations and requests over the window. */
  functions: Record<string, { invocations: number; requests: number; billedMs: number }>;
  /** The raw counts by function over the window (what `colo cost` prices again). */
  usage: Record<string, AwsUsage>;
  /** Parameters the levers name. */
  params: LeverParams;
  /** Requests `colo run` itself made to the emulator (reset, polling, read-back), by key; not billed to the VM. */
  driverRequests: Record<string, number>;
  /**
   * Lambda duration priced at this many ms per invocation (`colo cost --ms-per-invocation`); absent: as the
   * functions' own records billed it — on LocalStack that includes the emulator's waits.
   */
  durationModelMs?: number;
  /**
   * The same usage at {@link COST_YARDSTICK} (at least the measured VMs per deployment): the figure to set
   * against the ≤ $20 target whatever stack the run measured. Absent in reports written before 2026-12-04.
   */
  yardstick?: CostYardstick;
  /**
   * Why these figures leave part of a replicating VM's bill out (the run made no checkpoint, or replication
   * ended during it), printed beside the total and kept when `colo cost` prices the report again.
   */
  caution?: string;
}

/**
 * The caution a run's cost section carries, from its completed checkpoints and how it ended (review D: a
 * run that failed over before its first checkpoint printed its $/VM-month with no word of it), or undefined.
 *
 * @param ended - How replication ended during the run, in words (absent: still replicating at the end).
 */
export function costCaution(checkpoints: number, ended?: string): string | undefined {
  if (checkpoints === 0)
    return `the run completed no checkpoint${ended ? ' and replication ended' : ''}: the checkpoint path, most of the bill, is missing from these figures — run it again, longer`;
  if (ended)
    return `replication ended during the run (${ended}): the figures after that are not a replicating VM's`;
  return undefined;
}

function perHour(u: AwsUsage, windowMs: number, vms: number): UsagePerVmHour {
  const f = 3_600_000 / windowMs / vms;
  const requests: Record<string, number> = {};
  for (const [k, t] of Object.entries(u.requests)) requests[k] = t.requests * f;
  return {
    requests,
    bytes:
      sumRequests(
        u,
        () => true,
        (t) => t.bytesIn + t.bytesOut,
      ) * f,
    invocations: u.invocations * f,
    gbSeconds: u.gbSeconds * f,
    logBytes: u.logBytes * f,
  };
}

/** Builds the section from the usage of each function over the window. */
export function costSection(input: LeverInput, params: LeverParams, driver?: AwsUsage): CostSection {
  const { byFunction, ...rest } = input;
  const nominal = atNominalRates(byFunction, params, input.windowMs, input.vms);
  const total = usageToPrice(nominal.byFunction, input, params);
  const functions: CostSection['functions'] = {};
  for (const [fn, u] of Object.entries(byFunction)) {
    functions[fn] = {
      invocations: u.invocations,
      requests: sumRequests(u, () => true),
      billedMs: u.billedMs,
    };
  }
  const driverRequests: Record<string, number> = {};
  for (const [k, t] of Object.entries(driver?.requests ?? {})) driverRequests[k] = t.requests;
  return {
    breakdown: costPerVmMonth({ ...rest, usage: total }),
    measuredPerVmMonthUsd: costPerVmMonth({ ...rest, usage: usageToPrice(byFunction, input, params) })
      .perVmMonthUsd,
    nominalFactors: nominal.factors,
    levers: leverEffects({ ...rest, byFunction: nominal.byFunction }, params),
    perVmHour: perHour(total, input.windowMs, input.vms),
    functions,
    usage: { ...byFunction },
    params,
    driverRequests,
    yardstick: yardstickOf(input, params),
  };
}

/** `input` priced at {@link COST_YARDSTICK}, tick chains at their nominal rates. */
function yardstickOf(input: LeverInput, params: LeverParams): CostYardstick {
  const { byFunction, ...rest } = input;
  const { msPerInvocation } = COST_YARDSTICK;
  const vmsPerDeployment = Math.max(
    COST_YARDSTICK.vmsPerDeployment,
    input.deployment?.vmsPerDeployment ?? input.vms,
  );
  const deployment = { ...(input.deployment ?? SINGLE_VM_STACK), vmsPerDeployment };
  const billed = withMsPerInvocation(byFunction, msPerInvocation, params.memoryMb);
  const nominal = atNominalRates(billed, params, input.windowMs, input.vms);
  const usage = usageToPrice(nominal.byFunction, { vms: input.vms, deployment }, params);
  return {
    vmsPerDeployment,
    msPerInvocation,
    perVmMonthUsd: costPerVmMonth({ ...rest, deployment, usage }).perVmMonthUsd,
  };
}
