/**
 * What a fleet benchmark run (fleet-bench.ts) measured, read back: the functions' usage records of a step's
 * window per VM-hour, and the markdown `npm run fleet:localstack` writes between the fleet markers of
 * docs/cloud.md (latency and memory per step, usage per VM-hour, cost per VM-month).
 */

import { STACK_PERIOD_MS } from '../../../lambda/handlers/common/stack-chain.ts';
import { costPerVmMonth, SINGLE_VM_STACK } from '../../cost/model.ts';
import { CURRENT_PRICES } from '../../cost/prices.ts';
import { chainPeriodMs } from '../../parameters/tick-chains.ts';
import type { Clients } from './aws.ts';
import type { FleetRunRecord, FleetStep } from './fleet-bench.ts';
import { percentile } from './fleet-run.ts';
import { type FleetUsage, fleetUsage } from './fleet-usage.ts';
import { type ChainCadence, type LoggedUsage, readLoggedUsage } from './usage-logs.ts';

/** The tick periods of a run's VMs, ms, by tick consumer. */
/** The stack chains' periods, ms, by the role their usage records name (the pulse's, the monitor's). */
const STACK_PERIODS = {
  'pending-check-timer': STACK_PERIOD_MS.pulse,
  'heartbeat-monitor': STACK_PERIOD_MS.monitor,
};

function periodsOf(rec: FleetRunRecord) {
  return {
    'checkpoint-timer': rec.vm.checkpointS * 1000,
    'pending-check-timer': rec.vm.pendingS * 1000,
    // The heartbeat chain ticks at its own cadence (at least every 2 s), not per heartbeat interval.
    'heartbeat-monitor': chainPeriodMs('heartbeat', rec.vm.heartbeatS * 1000),
  };
}

/**
 * Usage per VM-hour of a step's VMs over the step's window, from the functions' logs. The deploy's own VM
 * (stopped) is counted as registered, as in the last step's report.
 *
 * @throws Error when the step has no window (a record from before windows were kept) or the logs cannot be read.
 */
export async function stepUsage(clients: Clients, rec: FleetRunRecord, step: FleetStep): Promise<FleetUsage> {
  if (!step.window) throw new Error(`step N=${step.n} has no window`);
  const { startMs, endMs } = step.window;
  const logged = await readLoggedUsage(clients, rec.functionNames, startMs, endMs);
  return fleetUsage(
    logged,
    rec.vmIds.slice(0, step.n),
    step.n + 1,
    endMs - startMs,
    periodsOf(rec),
    STACK_PERIODS,
  );
}

const usd = (x: number) => `$${x.toFixed(2)}`;
const fmt = (x: number) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toPrecision(3));
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** The usage and cost paragraphs of a run's last step, from what the logs held over its window. */
function usageLines(rec: FleetRunRecord, logged: LoggedUsage): string[] {
  const windowMs = rec.window.endMs - rec.window.startMs;
  const u = fleetUsage(logged, rec.vmIds, rec.registered, windowMs, periodsOf(rec), STACK_PERIODS);
  const deployment = { ...SINGLE_VM_STACK, vmsPerDeployment: rec.registered };
  const cost = costPerVmMonth({ usage: u.nominal, windowMs, vms: u.vms, deployment, prices: CURRENT_PRICES });
  const measured = costPerVmMonth({
    usage: u.total,
    windowMs,
    vms: u.vms,
    deployment,
    prices: CURRENT_PRICES,
  }).perVmMonthUsd;
  const attributed = rec.vmIds.filter((id) => logged.byVm[id] !== undefined).length;
  return [
    '',
    `**Usage per VM-hour** over the ${rec.steps.at(-1)?.n}-VM step (${Math.round(windowMs / 1000)} s, every VM running; ${logged.records} usage records, ${attributed} of ${rec.vmIds.length} VMs named by them): ` +
      `**${fmt(u.perVmHour.requests)} requests** and **${mib(u.perVmHour.bytes)}** of request and response bodies, ${fmt(u.perVmHour.invocations)} invocations, ${u.perVmHour.gbSeconds.toFixed(1)} GB-s. ` +
      `Requests per VM-hour over the VMs: p50 ${fmt(u.requestsSpread.p50)}, p95 ${fmt(u.requestsSpread.p95)}, min ${fmt(u.requestsSpread.min)}, max ${fmt(u.requestsSpread.max)}.`,
    '',
    '| service | requests per VM-hour | bytes per VM-hour |',
    '| --- | ---: | ---: |',
    ...Object.entries(u.byService)
      .sort((a, b) => b[1].requests - a[1].requests)
      .map(([s, v]) => `| ${s} | ${fmt(v.requests)} | ${mib(v.bytes)} |`),
    '',
    `**Cost per VM-month** at these periods (src/cost, ${cost.region} list prices of ${cost.priceDate}, one stack shared by ${rec.registered} VMs): **${usd(cost.perVmMonthUsd)}** with each tick chain at its nominal rate ` +
      `(ticks delivered in the window vs nominal: ${Object.entries(u.nominalFactors)
        .map(([fn, f]) => `${fn} ×${f.toFixed(2)}`)
        .join(', ')}); as measured ${usd(measured)}. Largest lines:`,
    '',
    '| line item | per VM-month | unit | USD |',
    '| --- | ---: | --- | ---: |',
    ...cost.lines
      .filter((l) => l.usd >= 0.005)
      .slice(0, 8)
      .map(
        (l) => `| ${l.label}${l.fixed ? ' (shared)' : ''} | ${fmt(l.quantity)} | ${l.unit} | ${usd(l.usd)} |`,
      ),
  ];
}

/** The pulse's cadence over a window: gaps between its starts and its run times, ms (nearest rank). */
export interface PulseCadence {
  pulses: number;
  gapMs: { p50: number; p90: number; p99: number; max: number };
  elapsedMs: { p50: number; p90: number; max: number };
  /** Monitor ticks that found the pulse stale; VMs failed over by the monitor. */
  monitorPulseStale: number;
  monitorFailedOver: number;
}

/** Summarises {@link ChainCadence}: the gaps between consecutive pulse starts (sorted), and run times. */
export function pulseCadence(c: ChainCadence): PulseCadence {
  const starts = [...c.pulseStartsMs].sort((a, b) => a - b);
  const gaps = starts.slice(1).map((t, i) => t - (starts[i] as number));
  return {
    pulses: starts.length,
    gapMs: {
      p50: percentile(gaps, 50),
      p90: percentile(gaps, 90),
      p99: percentile(gaps, 99),
      max: gaps.length > 0 ? Math.max(...gaps) : Number.NaN,
    },
    elapsedMs: {
      p50: percentile(c.pulseElapsedMs, 50),
      p90: percentile(c.pulseElapsedMs, 90),
      max: c.pulseElapsedMs.length > 0 ? Math.max(...c.pulseElapsedMs) : Number.NaN,
    },
    monitorPulseStale: c.monitorPulseStale,
    monitorFailedOver: c.monitorFailedOver,
  };
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The pulse paragraph of a run's last step. */
function cadenceLines(rec: FleetRunRecord, logged: LoggedUsage): string[] {
  const c = pulseCadence(logged.chains);
  if (c.pulses < 2)
    return ['', `**The pulse**: ${c.pulses} pulse line(s) in the window — no cadence to report.`];
  return [
    '',
    `**The pulse** (every primary's liveness evidence; ${rec.tickPollers ?? 1} event-source mapping(s) per tick queue) over the same window: ${c.pulses} pulses, ` +
      `gap between starts p50 ${secs(c.gapMs.p50)}, p90 ${secs(c.gapMs.p90)}, p99 ${secs(c.gapMs.p99)}, max ${secs(c.gapMs.max)}; ` +
      `each ran p50 ${secs(c.elapsedMs.p50)}, p90 ${secs(c.elapsedMs.p90)}, max ${secs(c.elapsedMs.max)}. ` +
      `The monitor found it stale (older than 4 s, or no VM due) in ${c.monitorPulseStale} tick(s); ${c.monitorFailedOver} of its VM steps reported a failed-over VM (a VM counts at each step until it is left alone).`,
  ];
}

/** The figures of a run for docs/cloud.md: latency and memory per step, usage per VM-hour and cost from the logs. */
export async function fleetReport(clients: Clients, rec: FleetRunRecord): Promise<string> {
  const date = rec.startedAt.slice(0, 10);
  const lines = [
    `Measured ${date} by \`npm run fleet:localstack -- ${rec.n}${rec.stackName === 'FleetBench' ? '' : ` --stack ${rec.stackName}`}\` on stack ${rec.stackName} (LocalStack 4.13.1, host-node executor, its own LocalStack on a 2-core machine shared with other work): ${rec.vmIds.length} VMs (4 MiB guests, fixed policy, checkpoints every ${rec.vm.checkpointS} s, pending checks every ${rec.vm.pendingS} s, heartbeats every ${rec.vm.heartbeatS} s, apply deadline ${rec.vm.applyTimeoutS} s), ${rec.pollers} event-source mapping(s) per channel and ${rec.tickPollers ?? 1} per tick queue, **wall-clock timers** (the stack's tick queues and watchdog; no virtual-clock stepper). Final check after stopping every VM: **${rec.final.consistent} of ${rec.vmIds.length} VMs consistent**, ${rec.final.commits} commits verified${rec.final.rounds === undefined ? '' : `, ${rec.final.rounds} background rounds sent (by ${rec.final.vmsWithRounds} of ${rec.vmIds.length} VMs)`}, ${rec.final.dlq} dead letters${rec.final.quiet ? '' : ' (the stack was not quiet after 5 min)'}. Whole run ${Math.round(rec.totalWallS / 60)} min.`,
    '',
    `| VMs on the stack | VMs with ≥ ${rec.commits} new commits | failed over | checkpoints | latency p50 | p95 | p99 | channel backlog p2s / s2p (max) | LocalStack RSS (peak) | function processes (peak) | their RSS, sum (peak) | largest one | wall |`,
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rec.steps.map(
      (s) =>
        `| ${s.n} | ${s.reached} | ${Object.values(s.failedOver).reduce((a, b) => a + b, 0)} | ${s.checkpoints} | ${Math.round(s.p50)} ms | ${Math.round(s.p95)} ms | ${Math.round(s.p99)} ms | ${s.backlog.p2s} / ${s.backlog.s2p} | ${Math.round(s.memory.localstackMiB)} MiB | ${s.memory.functions.count} | ${Math.round(s.memory.functions.totalMiB)} MiB | ${Math.round(s.memory.functions.maxMiB)} MiB | ${s.wallS} s |`,
    ),
    ...rec.steps.flatMap((s) => {
      const why = Object.entries(s.failedOver);
      return why.length === 0
        ? []
        : [
            '',
            `N = ${s.n}: failed over — ${why.map(([r, k]) => `${k} × "${r}"`).join(', ')} (the fence keeps that safe; the VM stops replicating).`,
          ];
    }),
  ];
  try {
    const logged = await readLoggedUsage(clients, rec.functionNames, rec.window.startMs, rec.window.endMs);
    lines.push(...usageLines(rec, logged), ...cadenceLines(rec, logged));
  } catch (e) {
    lines.push('', `Usage records could not be read: ${e instanceof Error ? e.message : String(e)}`);
  }
  return lines.join('\n');
}
