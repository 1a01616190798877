/**
 * The fleet watchdog (`tick-arm`, invoked once a minute by the stack's one rule): lists the registered VMs
 * page by page and starts or repairs each VM's three tick chains (tick-chain.ts `armAllChains`), several VMs at
 * a time, within a time budget. VMs it could not reach before the budget ran out are done first by the
 * next run (a cursor in the state store), so every VM is visited at least once every
 * ⌈N / VMs-per-run⌉ minutes and one invocation never outlives its timeout.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { StateConflictError, type StateStore } from '../../../src/engine/ports.ts';
import type { VmConfig } from '../../../src/parameters/vm-config.ts';
import {
  FLEET_WATCHDOG_CURSOR_KEY,
  STACK_CHAIN_QUEUE,
  STACK_TIMER_NAMES,
  type StackTimerName,
  type TimerName,
  VM_TIMER_NAMES,
} from '../../adapters/contract.ts';
import { COLO_METRICS } from '../../adapters/metrics-contract.ts';
import { listAllVms, type VmRegistry } from '../../adapters/s3-vm-registry.ts';
import type { Observability } from './observability.ts';
import { armStackChains } from './stack-chain.ts';
import { type StateSweepSummary, SWEEP_BUDGET_MS, SWEEP_DEADLINE_MS, sweepDue } from './state-sweep.ts';
import { type ArmVerdict, armAllChains, chainPeriodMs, periodsOf, type TickScheduler } from './tick-chain.ts';

/** VMs armed at the same time (each a handful of S3 reads; S3 takes thousands per second per prefix). */
export const WATCHDOG_CONCURRENCY = 32;

/** Time one run may spend arming, ms: well inside `tick-arm`'s 30 s timeout and the one-minute period. */
export const WATCHDOG_BUDGET_MS = 20_000;

/** State-store key of the watchdog's cursor (lambda/adapters/contract.ts; the stack grants writes to it). */
export const WATCHDOG_CURSOR_KEY = FLEET_WATCHDOG_CURSOR_KEY;

/** What the fleet watchdog needs. */
export interface FleetWatchdogDeps {
  /** The VM registry. */
  registry: VmRegistry;
  /** State store (timer, control and cursor documents). */
  state: StateStore;
  /** The three shared tick queues. */
  ticks: Readonly<Record<TimerName, TickScheduler>>;
  /** Wall clock, ms since the Unix epoch. */
  now: () => number;
  /** Logger and metrics. */
  obs: Observability;
  /** Default {@link WATCHDOG_CONCURRENCY}. */
  concurrency?: number;
  /** Default {@link WATCHDOG_BUDGET_MS}. */
  budgetMs?: number;
  /**
   * Sweeps the given VMs' superseded lean-state objects within `budgetMs` (state-sweep.ts `sweepVms`); a
   * rule run calls it, after arming, with the VMs due this minute. Absent: no sweep.
   */
  sweep?: (vmIds: readonly string[], budgetMs: number) => Promise<StateSweepSummary>;
  /**
   * Wraps the per-VM work (arming each VM's chain, the sweep; the deployed function: usage-report.ts
   * `measurePart`, so the cost model prices it per VM and the rest — the listing, the cursor, the stack
   * chains — per stack); default: runs it.
   */
  measureVms?: <T>(work: () => Promise<T>) => Promise<T>;
}

/** What one run did. */
export interface FleetWatchdogResponse {
  /** Registered VMs seen (or named by the event). */
  vms: number;
  /** VMs visited this run. */
  visited: number;
  /** VMs left for the next run (budget spent). */
  deferred: number;
  /** Chains by verdict (`error`: arming failed; retried next minute). */
  chains: Record<ArmVerdict | 'error', number>;
  /** Per VM, per timer, for VMs named by the event (at most a few: `colo vm add` asks for one). */
  byVm?: Record<string, Partial<Record<TimerName, ArmVerdict | 'error'>>>;
  /** The stack's two chains (the pulse and the monitor, stack-chain.ts). */
  stack: Record<StackTimerName, ArmVerdict | 'error'>;
  /** The state sweep of the VMs due this minute (rule runs with a sweep, when any VM was due). */
  sweep?: StateSweepSummary;
  /** Time spent, ms. */
  elapsedMs: number;
}

function periodOfConfig(config: VmConfig, timer: TimerName): number {
  switch (timer) {
    case 'checkpoint':
      return config.checkpointDelayMs;
    case 'pending-check':
      return config.pendingCheckIntervalMs;
    case 'heartbeat':
      return chainPeriodMs(timer, config.heartbeatIntervalMs);
  }
}

/** `vms` rotated to start after `cursor` (the VMs the last run did not reach come first). */
export function rotateAfter(vms: readonly string[], cursor: string | undefined): string[] {
  if (cursor === undefined) return [...vms];
  const i = vms.findIndex((v) => v > cursor);
  return i <= 0 ? [...vms] : [...vms.slice(i), ...vms.slice(0, i)];
}

async function loadCursor(state: StateStore): Promise<{ after?: string; etag?: string }> {
  const d = await state.load(WATCHDOG_CURSOR_KEY);
  if (!d) return {};
  try {
    const after = (JSON.parse(Buffer.from(d.value).toString('utf8')) as { after?: unknown }).after;
    return typeof after === 'string' ? { after, etag: d.etag } : { etag: d.etag };
  } catch {
    return { etag: d.etag };
  }
}

/**
 * Parses the event: `{ "source": "colo.watchdog" }` (the rule: every VM) or
 * `{ "source": "colo.watchdog", "vmIds": ["vm-1", …] }` (`colo vm add`: arm these at once; `"vmId": "vm-1"`
 * names one).
 */
export function namedVms(event: unknown): string[] | undefined {
  const e = event as { vmIds?: unknown; vmId?: unknown } | null;
  // `colo run --backend localstack` names its one VM as `vmId`.
  if (typeof e?.vmId === 'string' && e.vmId !== '') return [e.vmId];
  if (!Array.isArray(e?.vmIds)) return undefined;
  return e.vmIds.filter((x): x is string => typeof x === 'string');
}

/** The fleet watchdog handler. */
export function createFleetWatchdogHandler(
  deps: FleetWatchdogDeps,
): (event: unknown) => Promise<FleetWatchdogResponse> {
  return async (event) => {
    const { logger, metrics } = deps.obs;
    const started = deps.now();
    const named = namedVms(event);
    // The stack's chains first: every VM's pending check and monitor ride on them.
    const stack = {} as Record<StackTimerName, ArmVerdict | 'error'>;
    const stackOutcomes = await armStackChains(
      deps.state,
      { pulse: deps.ticks[STACK_CHAIN_QUEUE.pulse], monitor: deps.ticks[STACK_CHAIN_QUEUE.monitor] },
      started,
    );
    let stackRepaired = 0;
    for (const timer of STACK_TIMER_NAMES) {
      const r = stackOutcomes[timer];
      stack[timer] = r.verdict;
      if (r.verdict === 'error') {
        logger.error('arming a stack chain failed', {
          timer,
          error: r.error instanceof Error ? r.error.message : String(r.error),
        });
      } else if (r.verdict === 'armed') {
        if ((r.generation ?? 1) > 1) stackRepaired++;
        logger.info('stack chain armed', { timer, generation: r.generation });
      }
    }
    const cursor = named ? {} : await loadCursor(deps.state);
    const all = named ?? (await listAllVms(deps.registry));
    const order = named ? all : rotateAfter([...all].sort(), cursor.after);
    const chains: FleetWatchdogResponse['chains'] = {
      armed: 0,
      healthy: 0,
      stopped: 0,
      raced: 0,
      resent: 0,
      error: 0,
    };
    let repaired = stackRepaired;
    const byVm: NonNullable<FleetWatchdogResponse['byVm']> = {};
    const budget = deps.budgetMs ?? WATCHDOG_BUDGET_MS;
    let next = 0;
    let visited = 0;
    const armVm = async (vmId: string): Promise<void> => {
      const config = await deps.registry.get(vmId).catch((e: unknown) => {
        logger.error('VM config unreadable', { vmId, error: e instanceof Error ? e.message : String(e) });
        return undefined;
      });
      if (!config) return; // removed meanwhile, or malformed (logged)
      const now = deps.now();
      const verdicts: Partial<Record<TimerName, ArmVerdict | 'error'>> = {};
      const periodMs = periodsOf((t) => periodOfConfig(config, t));
      // A VM's own chain is its checkpoint timer; its pending check and monitor are the stack's chains.
      const outcomes = await armAllChains(
        { state: deps.state, vmId, ticks: deps.ticks, periodMs },
        now,
        VM_TIMER_NAMES,
      );
      for (const timer of VM_TIMER_NAMES) {
        const r = outcomes[timer];
        verdicts[timer] = r.verdict;
        if (r.verdict === 'error') {
          logger.error('arming failed', {
            vmId,
            timer,
            error: r.error instanceof Error ? r.error.message : String(r.error),
          });
        } else if (r.verdict === 'armed') {
          // A generation after the first replaces a chain that went quiet: a repair, not a start.
          if ((r.generation ?? 1) > 1) repaired++;
          logger.info('tick chain armed', { vmId, timer, generation: r.generation });
        }
        chains[r.verdict]++;
      }
      if (named) byVm[vmId] = verdicts;
    };
    // A pool of workers pulling VMs in order until the list or the budget is spent.
    const worker = async (): Promise<void> => {
      while (next < order.length && deps.now() - started < budget) {
        const vmId = order[next++] as string;
        await armVm(vmId);
        visited++;
      }
    };
    const width = Math.max(1, Math.min(deps.concurrency ?? WATCHDOG_CONCURRENCY, order.length));
    const measure = deps.measureVms ?? ((work) => work());
    await measure(() => Promise.all(Array.from({ length: width }, worker)));
    const deferred = order.length - next;
    if (!named) {
      // Remember where to start: after the last VM reached when some were deferred, else at the beginning.
      const after = deferred > 0 ? order[next - 1] : undefined;
      if (after !== cursor.after) {
        try {
          await deps.state.save(
            WATCHDOG_CURSOR_KEY,
            Buffer.from(JSON.stringify(after === undefined ? {} : { after }), 'utf8'),
            cursor.etag,
          );
        } catch (e) {
          if (!(e instanceof StateConflictError)) {
            logger.warn('watchdog cursor not saved', { error: e instanceof Error ? e.message : String(e) });
          }
        }
      }
    }
    let sweep: StateSweepSummary | undefined;
    if (!named && deps.sweep) {
      const due = all.filter((vmId) => sweepDue(vmId, started));
      const left = Math.max(0, SWEEP_DEADLINE_MS - (deps.now() - started));
      const sweepVms = deps.sweep;
      if (due.length > 0) sweep = await measure(() => sweepVms(due, Math.min(SWEEP_BUDGET_MS, left)));
    }
    const elapsedMs = deps.now() - started;
    if (chains.armed > 0) metrics.addMetric('ChainsArmed', MetricUnit.Count, chains.armed);
    if (repaired > 0) metrics.addMetric(COLO_METRICS.chainsRepaired, MetricUnit.Count, repaired);
    if (deferred > 0) metrics.addMetric('WatchdogDeferredVms', MetricUnit.Count, deferred);
    metrics.addMetric('WatchdogVms', MetricUnit.Count, all.length);
    // `source` is the rule's constant input (`colo.watchdog`); `named`: the event named its VMs (colo vm add).
    const source = (event as { source?: unknown } | null)?.source;
    logger.info('watchdog', {
      source: typeof source === 'string' ? source : null,
      named: named !== undefined,
      vms: all.length,
      visited,
      deferred,
      chains,
      stack,
      ...(sweep ? { sweep } : {}),
      elapsedMs,
    });
    metrics.publishStoredMetrics();
    return {
      vms: all.length,
      visited,
      deferred,
      chains,
      stack,
      ...(named ? { byVm } : {}),
      ...(sweep ? { sweep } : {}),
      elapsedMs,
    };
  };
}
