/**
 * The pulse's work (docs/cloud.md "The pulse and the monitor"): one tick a second for the whole stack steps
 * the primary of every registered VM whose pending check is due — their documents read side by side, at
 * most {@link PULSE_CONCURRENCY} at once, none started after {@link PULSE_BUDGET_MS} (the rest, oldest
 * first, go to the next tick) — and records in the pulse document (pulse-document.ts) when each stepped
 * and what its primary showed: the primary's liveness evidence, read by the monitor. A quiet step saves
 * nothing (InvocationOptions.skipQuietSave). Each step takes the fence from the VM's control document;
 * one VM's failure is logged and counted, never stops another's, and that VM is stepped again next tick.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { StateConflictError, type StateStore } from '../../../src/engine/ports.ts';
import { primaryInvocation } from '../../../src/runtime/cloud/index.ts';
import {
  emptyPulse,
  encodePulse,
  mergePulse,
  type PulseDocument,
  PulseDocumentError,
  type PulseVm,
  parsePulse,
} from '../../../src/runtime/cloud/pulse-document.ts';
import { PULSE_DOCUMENT_KEY } from '../../adapters/contract.ts';
import { readControl } from './control.ts';
import type { NodeHandlerDeps } from './deps.ts';
import { reportInvocation } from './observability.ts';
import { type LoadedStackDocument, loadStackDocument, type StackStepDeps } from './stack-steps.ts';

/** Primaries stepped at the same time by one pulse. */
export const PULSE_CONCURRENCY = 16;

/** No VM's step starts once the pulse is this old, ms: the rest wait for the next tick (oldest first). */
export const PULSE_BUDGET_MS = 2_000;

/** Most VMs one pulse steps (a bounded batch on a large fleet; the rest, oldest first, next tick). */
export const PULSE_MAX_VMS = 500;

/**
 * The pulse document is written once this long after the pulse started even if steps are still running,
 * ms (then once more when they end): a VM whose step hangs does not hold back the others' evidence.
 */
export const PULSE_RECORD_AFTER_MS = 3_000;

/**
 * Longest the pulse document goes unwritten while only its evidence times move, ms: a pulse whose steps
 * changed nothing else (no epoch, sequence number, phase or failure moved) leaves it as it is when it was
 * written less than this ago — half the PUTs at one pulse a second. Evidence recorded up to this late
 * never fails a primary over early as long as the gap between two writes stays within the secondary's
 * watchdog slack (a quarter of the heartbeat timeout: the watchdog fires at the evidence + slack +
 * timeout, heartbeat.ts), so the bound used is the smaller of this and every due VM's slack less a
 * pulse's spacing ({@link recordEveryMs}: 1.25 s at the default 10 s timeout, so every other pulse writes
 * at one pulse a second; a pulse delivered late writes every time).
 */
export const PULSE_RECORD_EVERY_MS = 2_000;

/**
 * A stopped VM (failed over, fenced, removed) is looked at again at most this long apart, ms (to see its
 * flag cleared); sooner when its heartbeat timeout is shorter ({@link stoppedRecheckMs}).
 */
export const STOPPED_RECHECK_MS = 60_000;

/**
 * A step at least this long is slow, ms: that VM's next step (and a new VM's first, and every step of a
 * large guest's) is marked in flight in the pulse document before it starts, so that a concurrent pulse
 * does not take it too — one slow VM then holds one pulse, not every pulse while the others' evidence
 * goes stale (docs/cloud.md, the pulse).
 */
export const SLOW_STEP_MS = 2_000;

/**
 * A step still running this long after its pulse started is marked in flight then, ms, if it was not
 * before (a small VM that was fast until now: its first slow step could not be foreseen), so that the
 * pulses after that leave it too.
 */
export const LATE_MARK_AFTER_MS = SLOW_STEP_MS;

/**
 * A guest at least this large is expected to step slowly at times (its checkpoints' sends, its state's
 * first load), bytes: its steps are always marked in flight. The default guest (64 MiB) is not.
 */
export const LARGE_GUEST_BYTES = 256 * 1024 * 1024;

/** An in-flight mark older than this is ignored, ms: the function's 60 s timeout killed its pulse. */
export const IN_FLIGHT_MAX_MS = 75_000;

/** Tolerance of a VM's pending-check period, ms: the pulse ticks at 1 s granularity. */
export const DUE_TOLERANCE_MS = 500;

/** Compare-and-swap attempts on the pulse document. */
const SAVE_ATTEMPTS = 5;

/** Metric: primary steps of a pulse that failed (each VM is stepped again next tick). */
export const PULSE_STEP_ERRORS_METRIC = 'PulseStepErrors';

/** What the pulse needs: a stack chain's step deps (its primaries'), and the pulse's own bounds. */
export interface PulseDeps extends StackStepDeps {
  /** Default {@link PULSE_MAX_VMS}. */
  maxVms?: number;
  /** Default {@link PULSE_RECORD_AFTER_MS}. */
  recordAfterMs?: number;
  /** Default {@link LATE_MARK_AFTER_MS}. */
  lateMarkAfterMs?: number;
}

/** What one pulse did. */
export interface PulseSummary {
  /** Registered VMs. */
  vms: number;
  /** VMs due. */
  due: number;
  /** Steps started, and of those: failed, saved nothing (quiet), found stopped. */
  stepped: number;
  failed: number;
  quiet: number;
  stopped: number;
  /** Due VMs left for the next tick (budget or batch bound). */
  deferred: number;
  /** True when the pulse document was left unwritten (only evidence times moved, and recently written). */
  unrecorded?: boolean;
}

/** Metric: pulse documents found malformed and replaced by a fresh one. */
export const PULSE_DOCUMENT_RESET_METRIC = 'PulseDocumentReset';

function loadPulse(state: StateStore): Promise<LoadedStackDocument<PulseDocument>> {
  return loadStackDocument(state, PULSE_DOCUMENT_KEY, parsePulse, emptyPulse, PulseDocumentError);
}

/**
 * Saves what the pulse learned into the pulse document by compare-and-swap, merged with whatever a
 * concurrent pulse wrote meanwhile (`mergePulse`). `registered` drops entries of removed VMs.
 *
 * @throws whatever the store throws but a conflict, or after {@link SAVE_ATTEMPTS} conflicts.
 */
export async function savePulse(
  state: StateStore,
  updates: Readonly<Record<string, PulseVm>>,
  now: number,
  registered: ReadonlySet<string> | undefined,
  first?: { doc: PulseDocument; etag?: string },
): Promise<void> {
  let loaded = first ?? (await loadPulse(state));
  for (let i = 0; ; i++) {
    const doc = mergePulse(loaded.doc, updates, now, registered);
    try {
      await state.save(PULSE_DOCUMENT_KEY, encodePulse(doc), loaded.etag);
      return;
    } catch (e) {
      if (!(e instanceof StateConflictError) || i + 1 >= SAVE_ATTEMPTS) throw e;
    }
    loaded = await loadPulse(state);
  }
}

/**
 * How long the pulse document may go unwritten while only evidence times move, ms: {@link
 * PULSE_RECORD_EVERY_MS}, or a VM's heartbeat slack (a quarter of its timeout) less 1.25 s when that is
 * smaller; a VM whose timeout is off (0) sets no bound (it is never failed over).
 */
export function recordEveryMs(heartbeatTimeoutsMs: readonly number[]): number {
  let every = PULSE_RECORD_EVERY_MS;
  // The next write comes at most one pulse (~1 s) after the bound: the gap stays within the slack.
  for (const t of heartbeatTimeoutsMs) if (t > 0) every = Math.min(every, Math.floor(t / 4) - 1250);
  return Math.max(0, every);
}

/**
 * True when `next` tells the monitor something `previous` does not beyond a later evidence time: another
 * epoch, sequence number, phase, failure count or stop.
 */
export function entryNews(previous: PulseVm | undefined, next: PulseVm): boolean {
  if (!previous) return true;
  const a = previous.seen;
  const b = next.seen;
  if ((a === null) !== (b === null)) return true;
  if (a && b && (a.epoch !== b.epoch || a.seq !== b.seq)) return true;
  return (
    previous.failures !== next.failures ||
    previous.waiting !== next.waiting ||
    previous.stoppedAt !== next.stoppedAt
  );
}

/**
 * How often the pulse steps a VM's primary, ms: its pending-check period, or — when that is longer — often
 * enough that its evidence never runs a quarter of the heartbeat timeout stale (a step whose pending
 * check is not due is a quiet tick: read, not saved), and at least every second's pulse.
 */
export function stepPeriodMs(params: { pendingCheckIntervalMs: number; heartbeatTimeoutMs: number }): number {
  if (params.heartbeatTimeoutMs <= 0) return params.pendingCheckIntervalMs;
  return Math.min(params.pendingCheckIntervalMs, Math.max(1000, Math.floor(params.heartbeatTimeoutMs / 4)));
}

/**
 * True when a VM's next step is expected to be slow, so that it is marked in flight first: a new VM (no
 * entry), one whose last step took {@link SLOW_STEP_MS} or more, or a guest of {@link LARGE_GUEST_BYTES}
 * (bytes) or more.
 */
export function expectSlow(entry: PulseVm | undefined, guestBytes: number): boolean {
  return !entry || (entry.lastStepMs ?? 0) >= SLOW_STEP_MS || guestBytes >= LARGE_GUEST_BYTES;
}

/**
 * How often a stopped VM is looked at again, ms: a quarter of its heartbeat timeout (at least 1 s), at most
 * {@link STOPPED_RECHECK_MS}. `colo vm add` clears a stop and the secondary's watchdog counts from then: the
 * primary must be stepped again well inside the timeout (a minute apart, a VM added back soon after its
 * removal was failed over).
 */
export function stoppedRecheckMs(params: { heartbeatTimeoutMs: number }): number {
  if (params.heartbeatTimeoutMs <= 0) return STOPPED_RECHECK_MS;
  return Math.min(STOPPED_RECHECK_MS, Math.max(1000, Math.floor(params.heartbeatTimeoutMs / 4)));
}

/**
 * True when VM `vmId` is due a step at `now` (ms) by its entry and step period ({@link stepPeriodMs}); a
 * stopped one when `recheckMs` ({@link stoppedRecheckMs}) have passed since it was last stepped.
 */
export function pulseDue(
  entry: PulseVm | undefined,
  periodMs: number,
  now: number,
  recheckMs = STOPPED_RECHECK_MS,
): boolean {
  if (!entry) return true;
  if (entry.stoppedAt !== undefined) return now - entry.steppedAt >= recheckMs - DUE_TOLERANCE_MS;
  // Another pulse is stepping it (a slow step): not due here.
  if (entry.inFlightSince !== undefined && now - entry.inFlightSince < IN_FLIGHT_MAX_MS) return false;
  if (entry.failures > 0) return true;
  return now - entry.steppedAt >= periodMs - DUE_TOLERANCE_MS;
}

/**
 * Steps one VM's primary: the fence from its control document; a VM that failed over is stepped once more
 * when the fence is decided (so that a primary that lost learns it, records `fenced` and stops), then left
 * alone; otherwise one tick, saved only when it did something. Returns the VM's new entry.
 *
 * @throws whatever the step throws (the caller counts it).
 */
async function stepPrimary(
  d: NodeHandlerDeps,
  previous: PulseVm | undefined,
): Promise<{ entry: PulseVm; quiet: boolean }> {
  // The fault hook (integration tests only): a frozen primary waits here.
  await d.faults?.begin();
  await d.faults?.gate('tick');
  const at = d.now();
  const control = await readControl(d.ports.state, d.params.vmId);
  const invoke = () =>
    primaryInvocation(d.ports, d.params, d.now, [{ type: 'tick' }], {
      ...d.options,
      ...(d.sleep ? { sleep: d.sleep } : {}),
      control,
      skipQuietSave: true,
    });
  if (control.failedOver) {
    if (control.owner !== null && previous?.stoppedAt === undefined) {
      reportInvocation(d.obs, await invoke());
      d.obs.metrics.publishStoredMetrics();
    }
    return {
      entry: {
        steppedAt: at,
        seen: null,
        failures: 0,
        // When it was first found stopped: unchanged by the rechecks (a new one is news to the monitor).
        stoppedAt: previous?.stoppedAt ?? at,
        lastStepMs: Math.max(0, d.now() - at),
      },
      quiet: false,
    };
  }
  const result = await invoke();
  const quiet = (result.quietSkips ?? 0) > 0;
  // A quiet step has nothing to report (no record, no send): its log line and metrics would be most of
  // the pulse's log bill.
  if (!quiet) {
    reportInvocation(d.obs, result);
    d.obs.metrics.publishStoredMetrics();
  }
  const doc = result.document;
  const s = doc.state;
  const live = doc.exit === null && s.stopped !== true;
  const replicating = live && s.phase === 'running';
  return {
    entry: {
      steppedAt: at,
      // The state as of this step: what a heartbeat sent now would carry (primary-seen.ts). Inside a
      // checkpoint a heartbeat would queue behind the request, which the secondary may not have consumed
      // yet: the last evidence before it stands (true of that moment, and at the secondary's position),
      // so a watchdog that wakes while the request is in the channel does not fail a live primary over.
      seen: replicating
        ? { at, epoch: s.epoch, seq: s.outSeq }
        : live && s.phase.startsWith('ckpt-')
          ? (previous?.seen ?? null)
          : null,
      failures: 0,
      lastStepMs: Math.max(0, d.now() - at),
      ...(doc.exit === null && s.phase === 'wait-ready' ? { waiting: true as const } : {}),
    },
    quiet,
  };
}

/**
 * One pulse: steps the due VMs and records them in the pulse document.
 *
 * @throws when the VM listing or the pulse document cannot be read (nothing was stepped), or the pulse
 *   document cannot be written (the steps stand; the next pulse records its own).
 */
export async function runPulse(deps: PulseDeps): Promise<PulseSummary> {
  const { logger, metrics } = deps.obs;
  const started = deps.now();
  const registered = await deps.vms();
  const loaded = await loadPulse(deps.state);
  if (loaded.malformed !== undefined) {
    // Every VM is due as if new; the next save replaces the document.
    metrics.addMetric(PULSE_DOCUMENT_RESET_METRIC, MetricUnit.Count, 1);
    logger.error('pulse document malformed: starting a fresh one', { error: loaded.malformed });
  }
  const due: { vmId: string; d: NodeHandlerDeps }[] = [];
  const resolved = await Promise.all(
    registered.map(async (vmId) => {
      try {
        return { vmId, d: await deps.vmDeps(vmId) };
      } catch (e) {
        logger.error('VM config unreadable; its primary waits for the next pulse', {
          vmId,
          error: e instanceof Error ? e.message : String(e),
        });
        return { vmId, d: undefined };
      }
    }),
  );
  for (const { vmId, d } of resolved) {
    if (d && pulseDue(loaded.doc.vms[vmId], stepPeriodMs(d.params), started, stoppedRecheckMs(d.params))) {
      due.push({ vmId, d });
    }
  }
  // Oldest first: a VM left behind by the budget goes first next time.
  due.sort((a, b) => (loaded.doc.vms[a.vmId]?.steppedAt ?? 0) - (loaded.doc.vms[b.vmId]?.steppedAt ?? 0));
  const batch = due.slice(0, deps.maxVms ?? PULSE_MAX_VMS);
  const summary: PulseSummary = {
    vms: registered.length,
    due: due.length,
    stepped: 0,
    failed: 0,
    quiet: 0,
    stopped: 0,
    deferred: 0,
  };
  const updates: Record<string, PulseVm> = {};
  const keep = new Set(registered);
  // A VM expected to be slow (new, slow last time, or a large guest) is marked in flight before its step.
  const marks: Record<string, PulseVm> = {};
  for (const { vmId, d } of batch) {
    const e = loaded.doc.vms[vmId];
    if (!expectSlow(e, d.params.guestBytes)) continue;
    marks[vmId] = { ...(e ?? { steppedAt: 0, seen: null, failures: 0 }), inFlightSince: started };
  }
  if (Object.keys(marks).length > 0) {
    try {
      await savePulse(deps.state, marks, deps.now(), keep);
    } catch (e) {
      // Unmarked, a concurrent pulse may step the same VM too: slower, not wrong.
      logger.warn('in-flight marks not written', { error: e instanceof Error ? e.message : String(e) });
    }
  }
  let unsaved = false;
  const budget = deps.budgetMs ?? PULSE_BUDGET_MS;
  let next = 0;
  // Steps running now (for the late marks).
  const running = new Set<string>();
  const worker = async (): Promise<void> => {
    while (next < batch.length && deps.now() - started < budget) {
      const { vmId, d } = batch[next++] as (typeof batch)[number];
      summary.stepped++;
      const previous = loaded.doc.vms[vmId];
      running.add(vmId);
      try {
        const r = await stepPrimary(d, previous);
        updates[vmId] = r.entry;
        if (r.quiet) summary.quiet++;
        if (r.entry.stoppedAt !== undefined) summary.stopped++;
      } catch (e) {
        summary.failed++;
        // Its last success stands; the failure makes it due again next tick.
        updates[vmId] = {
          steppedAt: previous?.steppedAt ?? 0,
          seen: previous?.seen ?? null,
          failures: (previous?.failures ?? 0) + 1,
        };
        logger.error("a VM's primary step failed; it is stepped again next pulse", {
          vmId,
          error: e instanceof Error ? { name: e.name, message: e.message } : String(e),
        });
      } finally {
        running.delete(vmId);
      }
      unsaved = true;
    }
  };
  const width = Math.max(1, Math.min(deps.concurrency ?? PULSE_CONCURRENCY, batch.length));
  const measure = deps.measureSteps ?? ((work) => work());
  const steps = measure(() => Promise.all(Array.from({ length: width }, worker)));
  // Steps that turned out slow are marked in flight while they run (the ones foreseen were marked above).
  let lateMarking: Promise<void> | undefined;
  const lateTimer = setTimeout(() => {
    const late: Record<string, PulseVm> = {};
    for (const vmId of running) {
      if (marks[vmId] !== undefined) continue;
      const e = loaded.doc.vms[vmId] ?? { steppedAt: 0, seen: null, failures: 0 };
      late[vmId] = marks[vmId] = { ...e, inFlightSince: started };
    }
    if (Object.keys(late).length === 0) return;
    lateMarking = savePulse(deps.state, late, deps.now(), keep).catch((e: unknown) => {
      logger.warn('late in-flight marks not written', { error: e instanceof Error ? e.message : String(e) });
    });
  }, deps.lateMarkAfterMs ?? LATE_MARK_AFTER_MS);
  const every = recordEveryMs(batch.map((b) => b.d.params.heartbeatTimeoutMs));
  let beaconed = false;
  const record = async (first?: typeof loaded): Promise<void> => {
    if (!unsaved) {
      // The document's `at` is also the pulse's own sign of life: the monitor holds the heartbeat
      // watchdogs while it is stale (a pulse outage says nothing of the primaries). Kept fresh when no
      // step had news — every VM in flight elsewhere, or none due — as long as VMs are registered.
      if (beaconed || registered.length === 0 || deps.now() - loaded.doc.at < every) return;
      beaconed = true;
      await savePulse(deps.state, {}, deps.now(), keep, first);
      return;
    }
    // A VM marked in flight is news when its step ends: the mark must be cleared.
    const news = Object.entries(updates).some(
      ([vmId, u]) => marks[vmId] !== undefined || entryNews(loaded.doc.vms[vmId], u),
    );
    // Only later evidence times, and the stored ones recent enough: left unwritten (PULSE_RECORD_EVERY_MS).
    if (!news && deps.now() - loaded.doc.at < every) {
      summary.unrecorded = true;
      return;
    }
    unsaved = false;
    await savePulse(deps.state, { ...updates }, deps.now(), keep, first);
  };
  // A hanging step (a frozen primary, a slow S3) does not hold back the other VMs' evidence.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const recordAfter = deps.recordAfterMs ?? PULSE_RECORD_AFTER_MS;
  const early = await Promise.race([
    steps.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), recordAfter);
    }),
  ]);
  if (timer !== undefined) clearTimeout(timer);
  if (early) {
    logger.warn('pulse steps still running; recording the others first', {
      stepped: summary.stepped,
      running: [...running].slice(0, 20),
    });
    await record(loaded);
    await steps;
    clearTimeout(lateTimer);
    // The marks first, then the entries that clear them (a mark saved after its entry is older: ignored).
    await lateMarking;
    await record();
  } else {
    clearTimeout(lateTimer);
    await lateMarking;
    await record(loaded);
  }
  summary.deferred = due.length - summary.stepped;
  if (summary.failed > 0) metrics.addMetric(PULSE_STEP_ERRORS_METRIC, MetricUnit.Count, summary.failed);
  if (summary.deferred > 0) metrics.addMetric('PulseDeferredVms', MetricUnit.Count, summary.deferred);
  metrics.addMetric('PulseSteps', MetricUnit.Count, summary.stepped);
  metrics.addMetric('PulseQuietSteps', MetricUnit.Count, summary.quiet);
  logger.info('pulse', { ...summary, elapsedMs: deps.now() - started });
  return summary;
}
