/**
 * The fleet's sweep of superseded lean-state objects (src/runtime/cloud/chunk-sweep.ts), run by `tick-arm`:
 * the minute watchdog sweeps each registered VM once every {@link SWEEP_PERIOD_MINUTES} minutes, in the
 * minute its id hashes to (so a fleet's sweeps spread evenly over the hour and no cursor is needed), after
 * arming the chains and within its own time budget; at most {@link SWEEP_MAX_DELETES} deletes per node per
 * VM and run. An operator (or a test) sweeps named VMs at once with
 * `{ "source": "colo.sweep", "vmIds": ["vm-1"], "graceMs": 0 }`.
 *
 * Saves delete what they retire themselves; the sweep finds what no document will ever name: objects of a
 * save that crashed, or lost its compare-and-swap, before its document committed. It never deletes a live
 * object, runs safely twice, side by side with saves and with itself, and a run that dies mid-way leaves
 * only garbage for the next (chunk-sweep.ts says why).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { StateStore } from '../../../src/engine/ports.ts';
import { DEFAULT_STATE_LAYOUT, type SweepReport, sweepChunks } from '../../../src/runtime/cloud/index.ts';
import { VM_ID_PATTERN } from '../../../src/wire/limits.ts';
import type { VmConfigSource } from '../../adapters/s3-vm-registry.ts';
import type { Observability } from './observability.ts';

/** Minutes between two sweeps of one VM (garbage appears only after crashes and lost races: rare). */
export const SWEEP_PERIOD_MINUTES = 60;

/** Time one run may spend sweeping, ms (after arming: the run stays inside `tick-arm`'s 30 s timeout). */
export const SWEEP_BUDGET_MS = 5_000;

/** A rule run starts no sweep this long after it started, ms (arming may have used its whole budget). */
export const SWEEP_DEADLINE_MS = 24_000;

/** Most deletes per node per VM and run (the rest wait for the VM's next sweep). */
export const SWEEP_MAX_DELETES = 64;

/** VMs swept at the same time. */
export const SWEEP_CONCURRENCY = 8;

/** Largest `graceMs` a `colo.sweep` event may ask for, ms (one day). */
export const MAX_SWEEP_GRACE_MS = 86_400_000;

/** Time a `colo.sweep` request may spend, ms (inside `tick-arm`'s 30 s timeout). */
export const SWEEP_REQUEST_BUDGET_MS = 20_000;

/** Most VMs one `colo.sweep` event may name. */
export const MAX_SWEEP_VMS = 100;

/** The minute of the sweep period in which `vmId` is swept (FNV-1a of its id, mod the period). */
export function sweepSlot(vmId: string, periodMinutes = SWEEP_PERIOD_MINUTES): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < vmId.length; i++) {
    h ^= vmId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % periodMinutes;
}

/** True when a rule run at `now` (ms since the Unix epoch) sweeps `vmId`. */
export function sweepDue(vmId: string, now: number, periodMinutes = SWEEP_PERIOD_MINUTES): boolean {
  return Math.floor(now / 60_000) % periodMinutes === sweepSlot(vmId, periodMinutes);
}

/** A `colo.sweep` event: sweep these VMs now. */
export interface SweepRequest {
  /** Registered VMs to sweep. */
  vmIds: string[];
  /** Grace period, ms; default the state layout's retire grace (15 min). */
  graceMs?: number;
}

/** A malformed `colo.sweep` event (the invocation fails with this one-line message; nothing is swept). */
export class SweepRequestError extends Error {
  override readonly name = 'SweepRequestError';
}

/**
 * The sweep request in `event`, or undefined when `event` is not one (`source` other than `colo.sweep`).
 *
 * @throws SweepRequestError for a `colo.sweep` event with other keys, no or bad VM ids, or a bad `graceMs`.
 */
export function parseSweepRequest(event: unknown): SweepRequest | undefined {
  const e = event as Record<string, unknown> | null;
  if (typeof e !== 'object' || e === null || e.source !== 'colo.sweep') return undefined;
  const extra = Object.keys(e).filter((k) => !['source', 'vmIds', 'graceMs'].includes(k));
  if (extra.length > 0) throw new SweepRequestError(`colo.sweep: unknown key ${JSON.stringify(extra[0])}`);
  const ids = e.vmIds;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_SWEEP_VMS) {
    throw new SweepRequestError(`colo.sweep: "vmIds" must be a list of 1 to ${MAX_SWEEP_VMS} VM ids`);
  }
  for (const id of ids) {
    if (typeof id !== 'string' || !VM_ID_PATTERN.test(id)) {
      throw new SweepRequestError(`colo.sweep: VM id must match ${VM_ID_PATTERN}, got ${JSON.stringify(id)}`);
    }
  }
  const g = e.graceMs;
  if (
    g !== undefined &&
    !(Number.isInteger(g) && (g as number) >= 0 && (g as number) <= MAX_SWEEP_GRACE_MS)
  ) {
    throw new SweepRequestError(
      `colo.sweep: "graceMs" must be an integer in [0, ${MAX_SWEEP_GRACE_MS}] ms, got ${JSON.stringify(g)}`,
    );
  }
  return { vmIds: [...new Set(ids as string[])], ...(g === undefined ? {} : { graceMs: g as number }) };
}

/** What the sweep needs. */
export interface StateSweepDeps {
  /** VM configs: only registered VMs are swept. */
  registry: VmConfigSource;
  /** State store with `list` and `delete` (the S3 state store). */
  state: StateStore;
  /** Wall clock, ms since the Unix epoch. */
  now: () => number;
  /** Logger and metrics (metrics are added, not published: the caller publishes). */
  obs: Observability;
  /** Default {@link SWEEP_MAX_DELETES}. */
  maxDeletes?: number;
  /** Default {@link SWEEP_CONCURRENCY}. */
  concurrency?: number;
}

/** What one sweep run did, summed over VMs and nodes. */
export interface StateSweepSummary {
  /** VMs asked for. */
  vms: number;
  /** VMs swept (both nodes tried). */
  swept: number;
  /** VMs not swept: not registered (or their config is unreadable). */
  skipped: number;
  /** VMs not reached before the budget ran out. */
  deferred: number;
  /** Objects deleted. */
  deleted: number;
  /** Objects kept because a save may still name them (revision beyond the document's). */
  pending: number;
  /** Unreferenced objects kept because they are younger than the grace period. */
  young: number;
  /** Unreferenced objects left for the next sweep (past the per-run delete bound). */
  left: number;
  /** Deletes that failed, plus nodes whose sweep failed (listing or document read). */
  errors: number;
}

type NodeOutcome = SweepReport | { error: string };

/**
 * Sweeps `vmIds` (each VM's two nodes, registered VMs only) until done or `budgetMs` has passed. Never
 * throws: a VM's failure is logged and counted, and the others go on.
 *
 * @param graceMs - Minimum age of an object to delete, ms.
 * @param budgetMs - No VM is started after this much time, ms.
 */
export async function sweepVms(
  deps: StateSweepDeps,
  vmIds: readonly string[],
  graceMs: number = DEFAULT_STATE_LAYOUT.retireGraceMs,
  budgetMs: number = SWEEP_BUDGET_MS,
): Promise<StateSweepSummary> {
  const { logger, metrics } = deps.obs;
  const started = deps.now();
  const out: StateSweepSummary = {
    vms: vmIds.length,
    swept: 0,
    skipped: 0,
    deferred: 0,
    deleted: 0,
    pending: 0,
    young: 0,
    left: 0,
    errors: 0,
  };
  const maxDeletes = deps.maxDeletes ?? SWEEP_MAX_DELETES;
  const sweepVm = async (vmId: string): Promise<void> => {
    const config = await deps.registry.get(vmId).catch((e: unknown) => {
      logger.error('VM config unreadable; not swept', {
        vmId,
        error: e instanceof Error ? e.message : String(e),
      });
      return undefined;
    });
    if (!config) {
      out.skipped++;
      return;
    }
    const now = deps.now();
    const nodes = await Promise.all(
      (['primary', 'secondary'] as const).map((node) =>
        sweepChunks(deps.state, vmId, node, now, graceMs, maxDeletes).then(
          (r): NodeOutcome => r,
          (e: unknown): NodeOutcome => ({ error: e instanceof Error ? e.message : String(e) }),
        ),
      ),
    );
    out.swept++;
    for (const [i, r] of nodes.entries()) {
      const node = i === 0 ? 'primary' : 'secondary';
      if ('error' in r) {
        out.errors++;
        logger.error('state sweep failed', { vmId, node, error: r.error });
        continue;
      }
      out.deleted += r.deleted;
      out.pending += r.pending;
      out.young += r.young;
      out.left += r.deferred;
      out.errors += r.failed;
      if (r.failed > 0)
        logger.error('state sweep: deletes failed', { vmId, node, failed: r.failed, error: r.firstError });
      if (r.deleted > 0 || r.deferred > 0) {
        logger.info('state swept', { vmId, node, deleted: r.deleted, left: r.deferred, listed: r.listed });
      }
    }
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < vmIds.length && deps.now() - started < budgetMs) await sweepVm(vmIds[next++] as string);
  };
  const width = Math.max(1, Math.min(deps.concurrency ?? SWEEP_CONCURRENCY, vmIds.length));
  await Promise.all(Array.from({ length: width }, worker));
  out.deferred = vmIds.length - next;
  if (out.deleted > 0) metrics.addMetric('StateObjectsSwept', MetricUnit.Count, out.deleted);
  if (out.errors > 0) metrics.addMetric('StateSweepErrors', MetricUnit.Count, out.errors);
  return out;
}

/**
 * `tick-arm`'s entry: a `colo.sweep` event sweeps the VMs it names at once (no time budget beyond the
 * function's timeout; the response is the summary); any other event goes to `otherwise` (the watchdog).
 *
 * @throws SweepRequestError for a malformed `colo.sweep` event (nothing swept).
 */
export function createSweepRequestHandler<R>(
  deps: StateSweepDeps,
  otherwise: (event: unknown) => Promise<R>,
): (event: unknown) => Promise<R | StateSweepSummary> {
  return async (event) => {
    const request = parseSweepRequest(event);
    if (!request) return otherwise(event);
    const summary = await sweepVms(deps, request.vmIds, request.graceMs, SWEEP_REQUEST_BUDGET_MS);
    deps.obs.logger.info('state sweep', { source: 'colo.sweep', ...summary });
    deps.obs.metrics.publishStoredMetrics();
    return summary;
  };
}
