/**
 * A fleet run's AWS usage per VM, from the functions' `aws usage` records (one per invocation, naming the
 * VMs its event served): per VM-hour figures, their spread over the VMs, and the cost per VM-month at the
 * chains' nominal tick rates (LocalStack delivers a tick late under load; AWS would deliver all of them).
 */
import { type AwsUsage, emptyUsage, mergeUsage, scaleUsage, sumRequests } from '../../cost/usage.ts';
import { percentile } from './fleet-run.ts';
import type { LoggedUsage } from './usage-logs.ts';

/** Tick consumers and the period (ms) of the chain each serves. */
export interface TickPeriods {
  'checkpoint-timer': number;
  'pending-check-timer': number;
  'heartbeat-monitor': number;
}

/** What the fleet's VMs did over a window, per VM-hour. */
export interface FleetUsage {
  /** VMs measured. */
  vms: number;
  /** Window, ms. */
  windowMs: number;
  /** Total usage of the measured VMs (their attributed records plus their share of the unattributed ones). */
  total: AwsUsage;
  /** The same at the chains' nominal tick rates (tick consumers scaled by {@link nominalFactors}). */
  nominal: AwsUsage;
  /**
   * Per tick consumer: nominal VM-ticks ÷ VM-ticks delivered in the window (1 = every tick came); per stack
   * chain (the `stackPeriods` given): nominal ticks ÷ ticks delivered.
   */
  nominalFactors: Record<string, number>;
  /** Per VM-hour, measured: requests (all services), request and response bytes, invocations, GB-s. */
  perVmHour: { requests: number; bytes: number; invocations: number; gbSeconds: number };
  /** Per VM-hour by service (`s3`, `sqs`, `sqs-fifo`, …): requests and bytes, measured. */
  byService: Record<string, { requests: number; bytes: number }>;
  /** Spread over the VMs of requests per VM-hour (attributed records only): p50, p95, min, max. */
  requestsSpread: { p50: number; p95: number; min: number; max: number };
}

function servicesOf(u: AwsUsage): Record<string, { requests: number; bytes: number }> {
  const out: Record<string, { requests: number; bytes: number }> = {};
  for (const [key, t] of Object.entries(u.requests)) {
    const service = key.slice(0, key.indexOf(':'));
    const s = out[service] ?? { requests: 0, bytes: 0 };
    out[service] = s;
    s.requests += t.requests;
    s.bytes += t.bytesIn + t.bytesOut;
  }
  return out;
}

/**
 * Per-VM-hour usage of `vmIds` from what the logs held over `windowMs`. `registered`: VMs registered on
 * the stack during the window (the measured ones and any other), among which records naming no VM (the
 * minute watchdog's runs over the whole fleet, the stack chains' ticks) are shared evenly. `stackPeriods`:
 * each stack chain's period, ms, by function role (the pulse's and the monitor's), to scale its ticks to
 * their nominal rate as the per-VM chains are.
 *
 * @throws RangeError when no VM is measured or the window is not positive.
 */
export function fleetUsage(
  logged: Pick<LoggedUsage, 'byVm' | 'unattributed'> & Partial<Pick<LoggedUsage, 'unattributedByFunction'>>,
  vmIds: readonly string[],
  registered: number,
  windowMs: number,
  periods: TickPeriods,
  stackPeriods: Readonly<Record<string, number>> = {},
): FleetUsage {
  if (vmIds.length === 0) throw new RangeError('no VM measured');
  if (!(windowMs > 0)) throw new RangeError(`windowMs must be > 0, got ${windowMs}`);
  const hours = windowMs / 3_600_000;
  const share = vmIds.length / Math.max(registered, vmIds.length);
  let total = scaleUsage(logged.unattributed, share);
  const byFunction: Record<string, AwsUsage> = {};
  const delivered: Record<string, number> = {};
  const perVmRequests: number[] = [];
  for (const id of vmIds) {
    const v = logged.byVm[id];
    let own = emptyUsage();
    for (const [fn, u] of Object.entries(v?.byFunction ?? {})) {
      byFunction[fn] = mergeUsage(byFunction[fn] ?? emptyUsage(), u);
      own = mergeUsage(own, u);
    }
    for (const [fn, n] of Object.entries(v?.records ?? {})) delivered[fn] = (delivered[fn] ?? 0) + n;
    total = mergeUsage(total, own);
    perVmRequests.push(sumRequests(own, () => true) / hours);
  }
  const nominalFactors: Record<string, number> = {};
  let nominal = total;
  for (const [fn, period] of Object.entries(periods) as [keyof TickPeriods, number][]) {
    const n = delivered[fn] ?? 0;
    const u = byFunction[fn];
    if (n <= 0 || !u) continue;
    const f = (vmIds.length * windowMs) / period / n;
    nominalFactors[fn] = f;
    nominal = mergeUsage(nominal, scaleUsage(u, f - 1));
  }
  // A stack chain's own ticks (records naming no VM, one per tick) at its nominal period; its per-VM
  // steps (`<role>:vms`) follow each VM's own periods, not the chain's lateness, and are not scaled.
  for (const [fn, period] of Object.entries(stackPeriods)) {
    const own = logged.unattributedByFunction?.[fn];
    if (!own || own.records <= 0) continue;
    const f = windowMs / period / own.records;
    nominalFactors[`${fn} (stack chain)`] = f;
    nominal = mergeUsage(nominal, scaleUsage(own.usage, share * (f - 1)));
  }
  const perVm = 1 / vmIds.length / hours;
  const byService: FleetUsage['byService'] = {};
  for (const [s, v] of Object.entries(servicesOf(total))) {
    byService[s] = { requests: v.requests * perVm, bytes: v.bytes * perVm };
  }
  return {
    vms: vmIds.length,
    windowMs,
    total,
    nominal,
    nominalFactors,
    perVmHour: {
      requests: sumRequests(total, () => true) * perVm,
      bytes:
        sumRequests(
          total,
          () => true,
          (t) => t.bytesIn + t.bytesOut,
        ) * perVm,
      invocations: total.invocations * perVm,
      gbSeconds: total.gbSeconds * perVm,
    },
    byService,
    requestsSpread: {
      p50: percentile(perVmRequests, 50),
      p95: percentile(perVmRequests, 95),
      min: Math.min(...perVmRequests),
      max: Math.max(...perVmRequests),
    },
  };
}
