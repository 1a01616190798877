/**
 * Levers: which parameter moves which line of the bill, and by how much, computed from the measured usage
 * of each function. A timer's chain costs in proportion to its rate, so doubling its period halves that
 * function's usage; the other levers rescale one quantity (memory → GB-s, state I/O → S3 requests).
 */
import { chainPeriodMs } from '../parameters/tick-chains.ts';
import { type CostInput, type CostReport, costPerVmMonth } from './model.ts';
import { type AwsUsage, emptyUsage, mergeUsage, scaleUsage } from './usage.ts';

/**
 * Functions whose own usage serves the whole stack when the report says the stack's pulse and monitor
 * ran (`LeverParams.stackChains`): their claims, stack documents, ticks and invocations, and the minute
 * watchdog's listing, cursor and the stack chains' arming. Their per-VM steps (the watchdog's: arming a
 * VM's chain, its sweep)
 * are reported apart, as function `<name>:vms` (lambda/handlers/common/usage-report.ts `measurePart`), and
 * priced per VM like every other function.
 */
export const STACK_FUNCTIONS = ['pending-check-timer', 'heartbeat-monitor', 'tick-arm'] as const;

/** The name of a stack function's per-VM part. */
export function vmPart(fn: string): string {
  return `${fn}:vms`;
}

/**
 * The usage the model prices per VM: every function's, with the stack functions' own usage (when
 * `params.stackChains`) scaled by `vms / vmsPerDeployment`, so that the model's division by the measured
 * VMs leaves each VM its share of one stack's (`--vms-per-deployment N` divides it by N). The stack part is
 * taken as measured: a larger fleet lengthens the pulse's invocation (not modelled).
 */
export function usageToPrice(
  byFunction: Readonly<Record<string, AwsUsage>>,
  input: Pick<CostInput, 'vms' | 'deployment'>,
  params: Pick<LeverParams, 'stackChains'>,
): AwsUsage {
  if (params.stackChains !== true) return totalUsage(byFunction);
  const share = input.vms / (input.deployment?.vmsPerDeployment ?? input.vms);
  let total = emptyUsage();
  for (const [fn, u] of Object.entries(byFunction)) {
    const stack = (STACK_FUNCTIONS as readonly string[]).includes(fn);
    total = mergeUsage(total, stack ? scaleUsage(u, share) : u);
  }
  return total;
}

/** Functions whose invocations are ticks of a timer chain (docs/cloud.md, "Sub-minute timers"). */
export const TICK_CONSUMERS = ['checkpoint-timer', 'pending-check-timer', 'heartbeat-monitor'] as const;

/** What the levers start from: the cost input, with the usage split by function (`POWERTOOLS_SERVICE_NAME`). */
export interface LeverInput extends Omit<CostInput, 'usage'> {
  /** Usage of each function over the window. */
  byFunction: Readonly<Record<string, AwsUsage>>;
}

/** One lever's effect. */
export interface LeverEffect {
  /** Stable id. */
  id: string;
  /** Parameter (context key) or design choice it stands for. */
  parameter: string;
  /** The change, in words (e.g. `1 s → 2 s`). */
  change: string;
  /** Cost after the change, USD per VM-month. */
  perVmMonthUsd: number;
  /** Change against the measured cost, USD per VM-month (negative: cheaper). */
  deltaUsd: number;
  /** Lines that moved, largest move first. */
  lines: string[];
  /** What the estimate leaves out. */
  caveat: string;
}

/** Ticks of each chain per ms at the parameters' periods, by tick consumer. */
function nominalRates(params: LeverParams): Record<(typeof TICK_CONSUMERS)[number], number> {
  return {
    'checkpoint-timer': 1 / params.checkpointDelayMs,
    'pending-check-timer': 1 / params.pendingCheckIntervalMs,
    // The heartbeat chain ticks at the secondary's wake, at least every 2 s (src/parameters/tick-chains.ts).
    'heartbeat-monitor': 1 / (params.heartbeatChainMs ?? params.heartbeatIntervalMs),
  };
}

/**
 * The usage at the chains' nominal rates: each tick consumer's usage scaled so that its invocations are
 * `windowMs / period` (what AWS delivers; a loaded emulator delivers a 1 s tick every 1–2 s), keeping
 * the measured cost per tick. `secondary-apply` follows the pending-check chain when the primary sends
 * heartbeat messages (between checkpoints its inputs are the heartbeats that chain sends), else it stays as
 * measured, as `primary` and `tick-arm` do.
 *
 * @param vms - VMs the usage covers: each VM's own chain delivers its ticks (default 1).
 * @returns The scaled usage and the factor applied to each function.
 */
export function atNominalRates(
  byFunction: Readonly<Record<string, AwsUsage>>,
  params: LeverParams,
  windowMs: number,
  vms = 1,
): { byFunction: Record<string, AwsUsage>; factors: Record<string, number> } {
  const factors: Record<string, number> = {};
  for (const [fn, rate] of Object.entries(nominalRates(params))) {
    const n = byFunction[fn]?.invocations ?? 0;
    // A VM's chain ticks once per VM; a stack chain once for the stack (`params.stackChains`).
    const stack = params.stackChains === true && (STACK_FUNCTIONS as readonly string[]).includes(fn);
    if (n > 0) factors[fn] = (rate * windowMs * (stack ? 1 : vms)) / n;
  }
  // The pulse's per-VM steps follow the pulse (its rate is the pending-check period's) — but only their
  // reads: a quiet step reads the control and node documents and writes, sends and logs nothing, so the
  // writes, sends and log lines of the part are the checkpoints' and rounds' the pulse performed, which
  // come at their own rate ({@link scaledReads}).
  const pulse = factors['pending-check-timer'];
  const part = vmPart('pending-check-timer');
  if (pulse !== undefined && byFunction[part]) factors[part] = pulse;
  // Without heartbeat messages its inputs are the checkpoints' and rounds' messages: left as measured.
  const pending = factors['pending-check-timer'];
  if (params.heartbeatMessages !== false && pending !== undefined && byFunction['secondary-apply'])
    factors['secondary-apply'] = pending;
  const out = scaled(byFunction, { ...factors, [part]: 1 });
  const u = byFunction[part];
  if (u && factors[part] !== undefined) out[part] = scaledReads(u, factors[part]);
  return { byFunction: out, factors };
}

/** `u` with its S3 reads (GET, HEAD) scaled by `f` and everything else as measured. */
export function scaledReads(u: AwsUsage, f: number): AwsUsage {
  const out = scaleUsage(u, 1);
  for (const key of ['s3:GetObject', 's3:HeadObject']) {
    const t = out.requests[key];
    if (!t) continue;
    out.requests[key] = {
      requests: t.requests * f,
      billed: t.billed * f,
      bytesOut: t.bytesOut * f,
      bytesIn: t.bytesIn * f,
      errors: t.errors * f,
    };
  }
  return out;
}

/** Sum of every function's usage. */
export function totalUsage(byFunction: Readonly<Record<string, AwsUsage>>): AwsUsage {
  return Object.values(byFunction).reduce(mergeUsage, emptyUsage());
}

function priced(
  input: LeverInput,
  byFunction: Readonly<Record<string, AwsUsage>>,
  params: Pick<LeverParams, 'stackChains'>,
  extra: Partial<CostInput> = {},
): CostReport {
  const { byFunction: _, ...rest } = input;
  return costPerVmMonth({ ...rest, ...extra, usage: usageToPrice(byFunction, input, params) });
}

function scaled(byFunction: Readonly<Record<string, AwsUsage>>, factors: Readonly<Record<string, number>>) {
  const out: Record<string, AwsUsage> = {};
  for (const [fn, u] of Object.entries(byFunction)) out[fn] = scaleUsage(u, factors[fn] ?? 1);
  return out;
}

/**
 * `u` with its S3 state requests replaced by `put` PUTs and `get` GETs per invocation (what the tick
 * costs when a node document is written only when it changed: the chain's claim stays).
 */
export function withStateIoPerInvocation(u: AwsUsage, put: number, get: number): AwsUsage {
  const out = scaleUsage(u, 1);
  for (const key of Object.keys(out.requests)) if (key.startsWith('s3:')) delete out.requests[key];
  const t = (n: number) => ({ requests: n, billed: n, bytesOut: 0, bytesIn: 0, errors: 0 });
  out.requests['s3:PutObject'] = t(put * u.invocations);
  out.requests['s3:GetObject'] = t(get * u.invocations);
  return out;
}

function moved(base: CostReport, after: CostReport): string[] {
  const before = new Map(base.lines.map((l) => [l.id, l.usd]));
  return after.lines
    .map((l) => ({ id: l.id, d: l.usd - (before.get(l.id) ?? 0) }))
    .filter((x) => Math.abs(x.d) >= 0.005)
    .sort((a, b) => Math.abs(b.d) - Math.abs(a.d))
    .map((x) => `${x.id} ${x.d < 0 ? '−' : '+'}$${Math.abs(x.d).toFixed(2)}`);
}

/** Durations for the lever texts (`1 s`, `20 s`). */
function seconds(ms: number): string {
  return `${ms / 1000} s`;
}

/** Parameters the levers name (the deployed values). */
export interface LeverParams {
  /** Checkpoint timer period, ms. */
  checkpointDelayMs: number;
  /** Pending-check period, ms. */
  pendingCheckIntervalMs: number;
  /** Heartbeat period, ms. */
  heartbeatIntervalMs: number;
  /**
   * The heartbeat chain's period as deployed, ms (its longest gap: src/parameters/tick-chains.ts); absent in
   * reports of code whose heartbeat chain ticked every heartbeat interval, which is then assumed.
   */
  heartbeatChainMs?: number;
  /**
   * Whether the primary put heartbeats on the channel (each one a `secondary-apply` invocation); absent in
   * reports of code that always did, which is then assumed. False since the primary's document is its
   * heartbeat (docs/cloud-runtime.md "Heartbeats from the primary's document").
   */
  heartbeatMessages?: boolean;
  /** Function memory, MB. */
  memoryMb: number;
  /**
   * True when the stack's pulse and monitor did the pending checks and the secondaries' timing (docs/cloud.md
   * "The pulse and the monitor"): {@link STACK_FUNCTIONS}' own usage is then the stack's, divided among its
   * VMs. Absent in reports of code with a pending-check and a heartbeat chain per VM.
   */
  stackChains?: boolean;
}

/**
 * The levers' effects on the measured cost: each timer period doubled, memory halved, arm64, and state
 * I/O per tick cut to the chain's claim (1 PUT + 1 GET per tick consumer invocation, node documents
 * written only when they changed — what O(changed pages) state gives a quiet tick).
 */
export function leverEffects(input: LeverInput, params: LeverParams): LeverEffect[] {
  const base = priced(input, input.byFunction, params);
  const effect = (
    id: string,
    parameter: string,
    change: string,
    after: CostReport,
    caveat: string,
  ): LeverEffect => ({
    id,
    parameter,
    change,
    perVmMonthUsd: after.perVmMonthUsd,
    deltaUsd: after.perVmMonthUsd - base.perVmMonthUsd,
    lines: moved(base, after),
    caveat,
  });
  const lean: Record<string, AwsUsage> = {};
  for (const [fn, u] of Object.entries(input.byFunction)) {
    lean[fn] = (TICK_CONSUMERS as readonly string[]).includes(fn) ? withStateIoPerInvocation(u, 1, 1) : u;
  }
  return [
    effect(
      'pending-check',
      'pendingCheckIntervalMs',
      `${seconds(params.pendingCheckIntervalMs)} → ${seconds(2 * params.pendingCheckIntervalMs)}`,
      priced(
        input,
        // The pulse ticks every second whatever the period; a VM's steps follow its period.
        scaled(
          input.byFunction,
          params.stackChains ? { [vmPart('pending-check-timer')]: 0.5 } : { 'pending-check-timer': 0.5 },
        ),
        params,
      ),
      'background rounds start up to one period later',
    ),
    effect(
      'heartbeat',
      'heartbeatIntervalMs',
      `${seconds(params.heartbeatIntervalMs)} → ${seconds(2 * params.heartbeatIntervalMs)}`,
      priced(
        input,
        scaled(input.byFunction, {
          // A heartbeat chain with a longest gap (heartbeatChainMs) keeps it until the interval passes it.
          'heartbeat-monitor':
            params.heartbeatChainMs === undefined
              ? 0.5
              : chainPeriodMs('heartbeat', params.heartbeatIntervalMs) /
                chainPeriodMs('heartbeat', 2 * params.heartbeatIntervalMs),
          ...(params.heartbeatMessages === false ? {} : { 'secondary-apply': 0.5 }),
          // The monitor ticks every 2 s whatever the interval.
          ...(params.stackChains ? { 'heartbeat-monitor': 1 } : {}),
        }),
        params,
      ),
      params.stackChains && params.heartbeatMessages === false
        ? "moves nothing on a stack with a pulse and a monitor: the primary's heartbeat is its saved document, not a message, and the monitor ticks every 2 s whatever the interval"
        : params.heartbeatMessages === false
          ? 'the heartbeat chain ticks at least every 2 s whatever the interval; keep the timeout ≥ a few periods'
          : 'heartbeat messages counted as half of secondary-apply; the heartbeat chain ticks at least every 2 s whatever the interval; keep the timeout ≥ a few periods',
    ),
    effect(
      'checkpoint',
      'checkpointDelayMs',
      `${seconds(params.checkpointDelayMs)} → ${seconds(2 * params.checkpointDelayMs)}`,
      priced(input, scaled(input.byFunction, { 'checkpoint-timer': 0.5 }), params),
      'only the checkpoint chain; larger checkpoints move more bytes per transaction',
    ),
    effect(
      'memory',
      'memory size',
      `${params.memoryMb} MB → ${params.memoryMb / 2} MB`,
      priced(
        input,
        Object.fromEntries(
          Object.entries(input.byFunction).map(([fn, u]) => [
            fn,
            { ...scaleUsage(u, 1), gbSeconds: u.gbSeconds / 2 },
          ]),
        ),
        params,
      ),
      'assumes the same duration; Lambda gives CPU in proportion to memory, so I/O-bound ticks stay as fast, CPU-bound ones slow down',
    ),
    effect(
      'arm64',
      'architecture',
      'x86_64 → arm64',
      priced(input, input.byFunction, params, { architecture: 'arm64' }),
      'same duration assumed',
    ),
    effect(
      'state-io',
      'state I/O per tick',
      'measured → 1 PUT + 1 GET per tick (O(changed pages))',
      priced(input, lean, params),
      'tick consumers only; the smaller documents would also shorten durations (not modelled)',
    ),
  ];
}
