/**
 * The monitor's work (docs/cloud.md "The pulse and the monitor"): one tick every 2 s for the whole stack
 * reads the pulse document (each primary's liveness evidence) and the monitor document (each secondary's
 * next wake as the monitor last left it) and steps only the secondaries that have something due — their
 * wake has come (the heartbeat watchdog: a primary that has not stepped for the heartbeat timeout plus its
 * slack is failed over there, by the engine, through the fence's compare-and-swap; a wait deadline; a
 * commit's end), the primary moved on since (messages that `secondary-apply` consumes may set a deadline),
 * the VM is new (its secondary starts and sends `checkpoint-ready`), or the pulse found the VM stopped (the
 * secondary learns the fence). Each is handed the pulse's evidence as a `primary-seen` input, as the
 * per-VM heartbeat chain handed it the primary's document; when the pulse itself is stale, the primary's
 * document is read instead (primary-seen.ts), so a lost pulse never fails a fleet over.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { StateConflictError, type StateStore } from '../../../src/engine/ports.ts';
import type { PrimarySeen } from '../../../src/engine/secondary/heartbeat.ts';
import { heartbeatWatchdogAt } from '../../../src/engine/secondary/secondary.ts';
import { readPrimarySeen, secondaryInvocation } from '../../../src/runtime/cloud/index.ts';
import {
  emptyMonitor,
  encodeMonitor,
  MonitorDocumentError,
  type MonitorVm,
  mergeMonitor,
  parseMonitor,
} from '../../../src/runtime/cloud/monitor-document.ts';
import {
  emptyPulse,
  type PulseDocument,
  PulseDocumentError,
  parsePulse,
} from '../../../src/runtime/cloud/pulse-document.ts';
import { MONITOR_DOCUMENT_KEY, PULSE_DOCUMENT_KEY } from '../../adapters/contract.ts';
import { readControl } from './control.ts';
import type { NodeHandlerDeps } from './deps.ts';
import { recordFailover } from './failover.ts';
import { reportInvocation } from './observability.ts';
import { loadStackDocument, type StackStepDeps } from './stack-steps.ts';

/** The monitor's period, ms (the per-VM heartbeat chain's longest gap: tick-chains.ts `MONITOR_MAX_GAP_MS`). */
export const MONITOR_PERIOD_MS = 2_000;

/** Secondaries stepped at the same time by one monitor tick. */
export const MONITOR_CONCURRENCY = 8;

/** No secondary's step starts once the monitor tick is this old, ms (the rest next tick). */
export const MONITOR_BUDGET_MS = 5_000;

/**
 * The pulse document is stale past this age, ms: the pulse chain is late or lost (its repair takes ~5 s),
 * so its evidence is not trusted to be current, and the primaries' own documents are read instead.
 */
export const PULSE_STALE_MS = 4_000;

/**
 * Longest pulse outage during which the monitor holds the secondaries' heartbeat watchdogs, ms. The pulse
 * is where a primary's liveness evidence comes from: while it does not run (its document older than
 * {@link PULSE_STALE_MS}) a silent primary is no evidence of a dead one — the evidence pipeline is down,
 * not the primary (whose guest is a function of time: a late step catches up). Seen on LocalStack: both of
 * a stack's pulse invocations hung until the function's 60 s timeout killed them, and a healthy VM failed
 * over 18 s in. The hold covers that timeout and the chain's repair; past it a lost pulse is judged as
 * before (a primary that really died meanwhile fails over at most this much later). Wait deadlines
 * (inside a checkpoint, a background load) are never held, nor the watchdog of a VM the pulse document
 * shows in flight: a pulse that went quiet while stepping it is held up by that VM's own step (a frozen
 * primary), which is evidence about it, not about the others.
 */
export const PULSE_OUTAGE_GRACE_MS = 90_000;

/** Metric: secondaries whose due heartbeat watchdog a monitor tick held for a pulse outage. */
export const WATCHDOGS_HELD_METRIC = 'WatchdogsHeldPulseOutage';

/**
 * Longest a secondary goes unread by the monitor, ms, whatever its recorded wake: a VM whose state was
 * reset or restored behind the monitor's back (`colo run`'s reset, a restore) is looked at within this.
 */
export const MONITOR_MAX_QUIET_MS = 30_000;

/** Compare-and-swap attempts on the monitor document. */
const SAVE_ATTEMPTS = 5;

/** Metric: secondary steps of the monitor that failed (each VM is stepped again next tick). */
export const MONITOR_STEP_ERRORS_METRIC = 'MonitorStepErrors';

/** What the monitor needs: a stack chain's step deps (its secondaries'). */
export type MonitorDeps = StackStepDeps;

/** What one monitor tick did. */
export interface MonitorSummary {
  /** Registered VMs; due; stepped; failed; failed over by this tick; left for the next tick. */
  vms: number;
  due: number;
  stepped: number;
  failed: number;
  failedOver: number;
  deferred: number;
  /** True when the pulse document was stale and the primaries' documents were read instead. */
  pulseStale: boolean;
  /** Due secondaries left unstepped because their next wake was the watchdog and the pulse was down. */
  held: number;
}

/** Metric: monitor documents found malformed and replaced by a fresh one. */
export const MONITOR_DOCUMENT_RESET_METRIC = 'MonitorDocumentReset';

const loadMonitor = (state: StateStore) =>
  loadStackDocument(state, MONITOR_DOCUMENT_KEY, parseMonitor, emptyMonitor, MonitorDocumentError);

/** What stepping a secondary is due for, or undefined when nothing is. */
export function monitorDue(
  m: MonitorVm | undefined,
  pulse: PulseDocument['vms'][string] | undefined,
  now: number,
): 'new' | 'wake' | 'moved' | 'stopped' | 'starting' | 'quiet' | undefined {
  if (!m) return 'new';
  if (m.wakeAt !== null && m.wakeAt <= now) return 'wake';
  if (pulse?.waiting && pulse.stoppedAt === undefined) return 'starting';
  if (now - m.steppedAt >= MONITOR_MAX_QUIET_MS) return 'quiet';
  if (pulse?.stoppedAt !== undefined && (m.stoppedSeen ?? -1) < pulse.stoppedAt) return 'stopped';
  // Stopped before, replicating again by the pulse's account (the flag was cleared): look now.
  if (m.stoppedSeen !== undefined && pulse !== undefined && pulse.stoppedAt === undefined) return 'stopped';
  const seen = pulse?.seen;
  if (seen && (seen.epoch !== m.epoch || seen.seq !== m.seq)) return 'moved';
  return undefined;
}

/**
 * Steps one VM's secondary with the evidence `seen`: returns its new entry (its next wake; due again next
 * tick while it has not consumed what the primary had numbered) and whether it failed over.
 */
async function stepSecondary(
  d: NodeHandlerDeps,
  seen: PrimarySeen | undefined,
  previous: MonitorVm | undefined,
  stoppedAt: number | undefined,
  now: number,
): Promise<{ entry: MonitorVm; failedOver: boolean }> {
  await d.faults?.begin();
  const control = await readControl(d.ports.state, d.params.vmId);
  if (control.failedOver && (control.owner === null || previous?.stoppedSeen !== undefined)) {
    // Stopped (`colo run`'s end, `colo vm remove`, a replay driving the VM itself), or the fence decided and
    // already learnt: as a VM's own chain ended on the flag, nothing steps it; looked at again in 30 s, to
    // see the flag cleared.
    return {
      entry: {
        wakeAt: null,
        steppedAt: now,
        epoch: previous?.epoch ?? 0,
        seq: previous?.seq ?? 0,
        stoppedSeen: stoppedAt ?? now,
      },
      failedOver: false,
    };
  }
  // The evidence first: a `start` stepped at a due wake runs the watchdog too. A fence decided by the other
  // side is stepped once (the loser records `fenced`), then left as above.
  const result = await secondaryInvocation(
    d.ports,
    d.params,
    d.now,
    [...(seen ? [{ type: 'primary-seen' as const, ...seen }] : []), { type: 'start' }, { type: 'tick' }],
    { ...d.options, ...(d.sleep ? { sleep: d.sleep } : {}), control },
  );
  reportInvocation(d.obs, result);
  d.obs.metrics.publishStoredMetrics();
  const failedOver = await recordFailover(d, result.document);
  const s = result.document.state;
  const caughtUp = !seen || s.epoch > seen.epoch || (s.epoch === seen.epoch && s.inSeq >= seen.seq);
  const wake = Number.isFinite(result.document.wakeAt) ? result.document.wakeAt : null;
  // The wake is a judgement of silence (not a wait deadline): held while the pulse is down.
  const judges = caughtUp && wake !== null && wake === heartbeatWatchdogAt(s, d.params);
  return {
    entry: {
      // Messages the primary numbered are still on their way: look again next tick.
      wakeAt: caughtUp ? wake : now,
      steppedAt: now,
      epoch: seen?.epoch ?? previous?.epoch ?? 0,
      seq: seen?.seq ?? previous?.seq ?? 0,
      ...(control.failedOver ? { stoppedSeen: stoppedAt ?? now } : {}),
      ...(judges ? { wakeIsWatchdog: true as const } : {}),
    },
    failedOver,
  };
}

/**
 * One monitor tick.
 *
 * @throws when the VM listing or the pulse or monitor document cannot be read (nothing was stepped), or
 *   the monitor document cannot be written (the steps stand; their VMs are looked at again next tick).
 */
export async function runMonitor(deps: MonitorDeps): Promise<MonitorSummary> {
  const { logger, metrics } = deps.obs;
  const started = deps.now();
  const registered = await deps.vms();
  const loadedPulse = await loadStackDocument(
    deps.state,
    PULSE_DOCUMENT_KEY,
    parsePulse,
    emptyPulse,
    PulseDocumentError,
  );
  const pulse = loadedPulse.doc;
  let mon = await loadMonitor(deps.state);
  if (loadedPulse.malformed !== undefined) {
    // The pulse replaces it at its next tick; meanwhile its evidence is read as stale (below): the
    // primaries' own documents judge, as when the pulse is late.
    logger.error("pulse document malformed: the primaries' documents are read instead", {
      error: loadedPulse.malformed,
    });
  }
  if (mon.malformed !== undefined) {
    // Every VM is due as if new; the save below replaces the document.
    metrics.addMetric(MONITOR_DOCUMENT_RESET_METRIC, MetricUnit.Count, 1);
    logger.error('monitor document malformed: starting a fresh one', { error: mon.malformed });
  }
  const pulseStale = started - pulse.at > PULSE_STALE_MS;
  // A pulse that ran once and stopped less than the grace ago is down, not gone: judge no silence yet.
  const pulseDown = pulseStale && pulse.at > 0 && started - pulse.at <= PULSE_OUTAGE_GRACE_MS;
  let held = 0;
  const due = registered.filter((vmId) => {
    const m = mon.doc.vms[vmId];
    const p = pulse.vms[vmId];
    const why = monitorDue(m, p, started);
    // Held unless the pulse went quiet in this VM's own step (marked in flight): review F on LocalStack saw
    // both pulses freeze in a frozen primary's step, and its failover wait for the whole grace.
    if (why === 'wake' && pulseDown && m?.wakeIsWatchdog === true && p?.inFlightSince === undefined) {
      held++;
      return false;
    }
    // A VM the pulse went quiet in is read every PULSE_STALE_MS: its secondary's wake may have moved since
    // the monitor last read it (a commit by secondary-apply, with no pulse to report the primary's progress;
    // review G: the cached wake was a 60 s wait, the real one a watchdog due in 12 s).
    const stuck =
      pulseStale &&
      p?.inFlightSince !== undefined &&
      m !== undefined &&
      started - m.steppedAt >= PULSE_STALE_MS;
    return why !== undefined || stuck;
  });
  const summary: MonitorSummary = {
    vms: registered.length,
    due: due.length,
    stepped: 0,
    failed: 0,
    failedOver: 0,
    deferred: 0,
    pulseStale,
    held,
  };
  if (held > 0) {
    metrics.addMetric(WATCHDOGS_HELD_METRIC, MetricUnit.Count, held);
    logger.warn("pulse down: heartbeat watchdogs held (no evidence of the primaries' silence)", {
      held,
      pulseAgeMs: started - pulse.at,
      graceMs: PULSE_OUTAGE_GRACE_MS,
    });
  }
  const updates: Record<string, MonitorVm> = {};
  const budget = deps.budgetMs ?? MONITOR_BUDGET_MS;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < due.length && deps.now() - started < budget) {
      const vmId = due[next++] as string;
      const previous = mon.doc.vms[vmId];
      const p = pulse.vms[vmId];
      try {
        const d = await deps.vmDeps(vmId);
        if (!d) continue;
        summary.stepped++;
        let seen = p?.seen ?? undefined;
        if (pulseStale) {
          try {
            // The later of the two: the pulse's last record, or the primary's last save.
            const saved = await readPrimarySeen(d.ports.state, vmId);
            if (saved && (!seen || saved.at > seen.at)) seen = saved;
          } catch (e) {
            metrics.addMetric('PrimaryDocumentUnread', MetricUnit.Count, 1);
            logger.warn("primary's document not read; the watchdog judges without it", {
              vmId,
              error: e instanceof Error ? e.message : String(e),
            });
          }
        }
        const r = await stepSecondary(d, seen, previous, p?.stoppedAt, deps.now());
        updates[vmId] = r.entry;
        if (r.failedOver) summary.failedOver++;
      } catch (e) {
        summary.failed++;
        updates[vmId] = {
          wakeAt: deps.now(),
          steppedAt: previous?.steppedAt ?? 0,
          epoch: previous?.epoch ?? 0,
          seq: previous?.seq ?? 0,
        };
        logger.error("a VM's secondary step failed; it is stepped again next tick", {
          vmId,
          error: e instanceof Error ? { name: e.name, message: e.message } : String(e),
        });
      }
    }
  };
  const width = Math.max(1, Math.min(deps.concurrency ?? MONITOR_CONCURRENCY, due.length));
  const measure = deps.measureSteps ?? ((work) => work());
  await measure(() => Promise.all(Array.from({ length: width }, worker)));
  summary.deferred = due.length - next;
  const keep = new Set(registered);
  const removed = Object.keys(mon.doc.vms).some((v) => !keep.has(v));
  if (Object.keys(updates).length > 0 || removed) {
    for (let i = 0; ; i++) {
      // Merged: a concurrent tick (two mappings) that stepped a VM later than this one keeps its entry.
      const doc = mergeMonitor(mon.doc, updates, deps.now(), keep);
      try {
        await deps.state.save(MONITOR_DOCUMENT_KEY, encodeMonitor(doc), mon.etag);
        break;
      } catch (e) {
        if (!(e instanceof StateConflictError) || i + 1 >= SAVE_ATTEMPTS) throw e;
      }
      mon = await loadMonitor(deps.state);
    }
  }
  if (summary.failed > 0) metrics.addMetric(MONITOR_STEP_ERRORS_METRIC, MetricUnit.Count, summary.failed);
  if (summary.deferred > 0) metrics.addMetric('MonitorDeferredVms', MetricUnit.Count, summary.deferred);
  if (pulseStale) metrics.addMetric('PulseStale', MetricUnit.Count, 1);
  metrics.addMetric('MonitorSteps', MetricUnit.Count, summary.stepped);
  (summary.stepped > 0 || pulseStale ? logger.info : logger.debug).call(logger, 'monitor', {
    ...summary,
    elapsedMs: deps.now() - started,
  });
  return summary;
}
