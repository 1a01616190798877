/**
 * `npm run fidelity`: the QEMU reference runs, the same scenarios through the engine, the comparison and
 * docs/fidelity.md. One QEMU pair at a time (a pair keeps both cores busy).
 */
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { PAGE_HEADER_WIRE_BYTES } from '../engine/params.ts';
import { PAGE_SIZE } from '../engine/protocol/delta.ts';
import { LINK_PROFILES } from '../parameters/link-profiles.ts';
import { onAbort } from './abort.ts';
import { anatomy } from './anatomy.ts';
import { calibrate, mediansBySize, sizePoints } from './calibrate.ts';
import { cutCheckpoints, type SideTrace } from './checkpoints.ts';
import { compareFailover, compareFigures, compareScenario, type ScenarioComparison } from './compare.ts';
import { type EngineScenario, runEngineScenario } from './engine-scenario.ts';
import { type CheckpointFigures, engineFigures, qemuFigures } from './figures.ts';
import { fitLine, type LineFit, mean, median } from './fit.ts';
import { buildGuest } from './guest.ts';
import { fitHostTimeline, gapsOf, medianGaps } from './host-timeline.ts';
import { held, type PauseRow, pauseRows } from './pause-factors.ts';
import { type KeptRun, leaveOneOut, poolRuns } from './pooled.ts';
import { ensurePackages, installPatchedQemu, qemuVersion } from './qemu-install.ts';
import { loadRun, type PairRun, type PairScenario, readLogs, runPair, saveRun } from './qemu-pair.ts';
import { parseQemuTrace } from './qemu-trace.ts';
import { setUpRelayAck } from './relay-ack.ts';
import type { FidelityResult } from './report.ts';
import type { OverrunSection } from './report-overrun.ts';
import { fitReplyStall, stalledProfile } from './stalls.ts';
import { fitTickLateness, type TickLateness } from './tick-lateness.ts';
import { countSpread, offsetsOf, scenarioLateness, timerLateness } from './timer-replay.ts';
import {
  backToBackPages,
  parseVcpuResumes,
  type ResumeRun,
  resumeRuns,
  summariseVmStart,
} from './vm-start.ts';

/**
 * Seeds the engine runs each window with for the count with drawn stalls (the draws differ by seed). Shown,
 * not checked; 2 since each scenario runs in two windows (8 made a loaded run's analysis take 4 minutes).
 */
export const COUNT_SEEDS = 2;

/**
 * Seeds of the checked count (the run's stall timeline): only the workload's start page differs by seed, so
 * two show that the count does not hang on it without doubling the engine's time.
 */
export const HOST_SEEDS = 2;

/**
 * The reference scenarios: a few dirty sizes and delays, one with an overrunning delay, the last fails over.
 * No size below ~1000 pages: under TCG the primary misses re-writes to pages its vCPU's TLB keeps (see
 * docs/fidelity.md, "What QEMU under TCG gets wrong").
 */
export const SCENARIOS: readonly PairScenario[] = [
  { pages: 1024, delayMs: 500, windowMs: 5_500, failover: false },
  { pages: 2048, delayMs: 300, windowMs: 4_500, failover: false },
  { pages: 8192, delayMs: 1000, windowMs: 6_500, failover: false },
  { pages: 4096, delayMs: 100, windowMs: 4_500, failover: true },
];

/**
 * The order the scenarios' windows run in (indices into {@link SCENARIOS}): each scenario twice, the second
 * half mirroring the first. The host's load drifts within a run (another process takes the cores for a
 * while), and one profile line is checked against every size's median: run one after the other, each size
 * met a different load and the line could not pass through them all. Mirrored, a load that drifts steadily
 * through the run falls on every size alike (each size's two windows average to the run's middle). Only the
 * failover scenario's last window fails over.
 */
export const WINDOW_ORDER: readonly number[] = [0, 1, 2, 3, 3, 2, 1, 0];

/** The runs of a `npm run fidelity`, in order: each of {@link WINDOW_ORDER}'s windows, numbered per scenario. */
export function scenarioWindows(): { scenario: PairScenario; index: number; window: number }[] {
  const seen = new Map<number, number>();
  const last = WINDOW_ORDER.lastIndexOf(SCENARIOS.findIndex((x) => x.failover));
  return WINDOW_ORDER.map((index, at) => {
    const base = SCENARIOS[index] as PairScenario;
    const window = (seen.get(index) ?? 0) + 1;
    seen.set(index, window);
    return { scenario: { ...base, failover: base.failover && at === last }, index, window };
  });
}

interface QemuScenario {
  scenario: PairScenario;
  /** Which of {@link SCENARIOS} this window ran, and its number among that scenario's windows (1, 2). */
  index: number;
  window: number;
  primary: SideTrace;
  secondary: SideTrace;
  figures: CheckpointFigures[];
  windowMs: number;
  /** checkpoint-ready on the primary, ms (trace time). */
  readyAt: number;
  /** Per complete checkpoint, its vCPU's run inside `vm_start` before the traced resume, ms (vm-start.ts). */
  vmStartRuns: number[];
  /** The same runs with their resumes (trace time). */
  resumeRuns: ResumeRun[];
  status: unknown;
  exit: unknown;
  /** Steady checkpoints whose send waited for a delayed ACK (pause-factors.ts `held`), of how many. */
  held: { held: number; of: number };
}

/** Where no quickack route is set up (a re-analysis runs no QEMU). */
const RELAY_DEFAULT = { host: '127.0.0.1', quickAck: false } as const;

/** Of the rows at the scenario's dirty size (its steady checkpoints), how many waited for a delayed ACK. */
function heldSends(rows: readonly PauseRow[], pages: number): { held: number; of: number } {
  const steadyRows = rows.filter((r) => r.pages === pages);
  return { held: steadyRows.filter(held).length, of: steadyRows.length };
}

/** A window's resume runs, and the runs alone. */
function withRuns(runs: ResumeRun[]): { vmStartRuns: number[]; resumeRuns: ResumeRun[] } {
  return { vmStartRuns: runs.map((r) => r.runMs), resumeRuns: runs };
}

/** Checkpoints whose flush count is the guest's dirty set (the first also carries what boot dirtied). */
function steady(q: QemuScenario): CheckpointFigures[] {
  return q.figures.filter((f) => f.pages === q.scenario.pages);
}

/** The profile whose pause is checked: the shipped one, not a fit to the run it is checked against. */
export const PAUSE_PROFILE = 'qemu-tcg-loopback' as const;

/**
 * Runs everything; returns the result to render (`drawnSeeds`: seeds of the count with drawn stalls, default
 * {@link COUNT_SEEDS}; `kept`: the runs of fidelity/runs.json, for the fit over the other runs). QEMU runs
 * in `work` (a fresh directory the caller owns); with `reuseRuns`, QEMU is not run: the runs kept in that
 * directory are analysed again (to change the analysis or the engine without burning both cores).
 */
export async function runFidelity(
  log: (line: string) => void,
  options: { work?: string; reuseRuns?: string; kept?: readonly KeptRun[]; drawnSeeds?: number },
): Promise<FidelityResult> {
  const started = Date.now();
  const work = options.reuseRuns ?? options.work;
  if (!work) throw new Error('runFidelity: a work directory or a directory of kept runs is needed');
  let version: string;
  let qemu = '';
  if (options.reuseRuns) {
    version = qemuVersion();
    log(`QEMU ${version}: re-analysing the runs kept in ${work}`);
  } else {
    ensurePackages(log);
    version = qemuVersion();
    qemu = installPatchedQemu(work);
    log(`QEMU ${version}, patched copy at ${qemu}`);
  }
  const runs: QemuScenario[] = [];
  let coloAt: number | undefined;
  // The meter acknowledges the primary's bytes at once where the host lets us route it so (relay-ack.ts).
  const relay = options.reuseRuns ? undefined : setUpRelayAck();
  if (relay) log(`link meter: ${relay.note}`);
  const unregister = relay ? onAbort(relay.release) : () => {};
  const loadAtStart = loadavg()[0] ?? 0;
  const quickAcks: boolean[] = [];
  try {
    for (const { scenario, index, window } of scenarioWindows()) {
      const dir = join(work, `run-${scenario.pages}p-${scenario.delayMs}ms-w${window}`);
      let raw: PairRun;
      if (options.reuseRuns) raw = loadRun(dir, scenario);
      else {
        const kernel = buildGuest(scenario.pages, join(work, 'guest'));
        raw = readLogs(await runPair(qemu, kernel, dir, scenario, log, relay ?? RELAY_DEFAULT), dir);
        saveRun(raw, dir);
      }
      coloAt ??= raw.coloAt;
      const p = parseQemuTrace(raw.primaryLog).events;
      const s = parseQemuTrace(raw.secondaryLog).events;
      const primary = cutCheckpoints(p, 'primary');
      const secondary = cutCheckpoints(s, 'secondary');
      const ready = p.find((e) => e.name === 'colo_receive_message' && e.fields.msg === 'checkpoint-ready');
      if (!ready) throw new Error(`${dir}: the primary's trace has no checkpoint-ready`);
      // Count what started inside the window (a failover run's trace goes on past it).
      primary.checkpoints = primary.checkpoints.filter((c) => c.requestAt <= raw.endAt);
      secondary.checkpoints = secondary.checkpoints.slice(0, primary.checkpoints.length);
      runs.push({
        scenario,
        index,
        window,
        primary,
        secondary,
        figures: qemuFigures(primary, secondary, raw.link),
        windowMs: raw.endAt - ready.at,
        readyAt: ready.at,
        ...withRuns(resumeRuns(primary.checkpoints, parseVcpuResumes(raw.primaryLog))),
        status: raw.coloStatus,
        exit: raw.secondaryEvents.find((e) => e.event === 'COLO_EXIT')?.data ?? null,
        held: heldSends(pauseRows(primary, secondary, p, s, raw.link), scenario.pages),
      });
      quickAcks.push(raw.relayQuickAck === true);
      log(`  ${primary.checkpoints.length} checkpoints in ${((raw.endAt - ready.at) / 1000).toFixed(1)} s`);
    }
  } finally {
    relay?.release();
    unregister();
  }
  const loadAtEnd = loadavg()[0] ?? 0;
  const qemuSteady = runs.flatMap(steady);
  // Through the per-size medians: in an overrunning scenario the flush count also holds pages only the
  // secondary dirtied (the primary barely ran), so single checkpoints stray from the line.
  const qemuBytes = fitLine(mediansBySize(qemuSteady, (f) => f.bytes));
  // The engine's own fixed bytes per checkpoint (messages, delta headers) at a zero-byte device state.
  const bare = engineFigures(
    runEngineScenario({
      pages: 1,
      delayMs: 1000,
      durationMs: 2500,
      deviceStateBytes: 0,
      link: { bandwidthBytesPerSec: 1e9, latencyMs: 0.1 },
      costs: { prepMs: 1, flushBytesPerMs: 1e6, deviceLoadMs: 1, applyBytesPerMs: 1e6 },
      failover: false,
    }).checkpoints,
  )[0];
  if (!bare) throw new Error('the engine ran no checkpoint in its probe run');
  const engineFixed = bare.bytes - bare.pages * (PAGE_SIZE + PAGE_HEADER_WIRE_BYTES);
  const deviceStateBytes = Math.max(0, Math.round(qemuBytes.intercept - engineFixed));
  const points = sizePoints(qemuSteady);
  const calibration = calibrate(points, deviceStateBytes);
  // The pause is checked against the shipped profile (fitted over fidelity/runs.json), never against a fit
  // through this run's own medians: that line passes through what it is checked against.
  const shipped = LINK_PROFILES[PAUSE_PROFILE];
  const shippedLink = { bandwidthBytesPerSec: shipped.bandwidthBytesPerSec, latencyMs: shipped.latencyMs };
  const kept = options.kept ?? [];
  const others = leaveOneOut(kept, points);
  // QEMU's timer callback runs late on a loaded host and re-arms from then: measured where every request
  // came from a tick, it sets the period the engine's (exact) timer runs at in every scenario.
  const stats = runs.map((q) => timerStats(q));
  const timerLateMs = timerLateness(
    runs
      .filter((_, i) => stats[i]?.overruns === 0 && stats[i]?.backToBack === 0)
      .map((q) => ({ delayMs: q.scenario.delayMs, requests: q.primary.checkpoints.map((c) => c.requestAt) })),
  );
  // The spread of QEMU's request → reply gap, drawn per checkpoint by the engine (stalls.ts), and the COLO
  // loop's wake-up: the host contention that makes the timer callback late delays the thread it wakes too.
  const replyStall = fitReplyStall(qemuSteady);
  const profile = stalledProfile(shippedLink, shipped.costs, replyStall);
  // The vCPU's run inside vm_start, the run's median (the engine's guest runs that long at each resume; 0 as
  // before for traces recorded without vm_state_notify). Not the mean: the long runs (~4 ms) come when the
  // COLO thread waits for a CPU, and then QEMU's vCPU often gets none either (its back-to-back epochs carried
  // fewer pages than an engine guest running the mean at full speed: docs/fidelity.md, "Timer").
  const vmStart = summariseVmStart(runs.flatMap((q) => q.vmStartRuns));
  const costs = { ...profile.costs, wakeMs: timerLateMs, vmStartRunMs: vmStart?.medianMs ?? 0 };
  const scenarios: ScenarioComparison[] = [];
  const engineFigs: CheckpointFigures[][] = [];
  let overrun: OverrunSection | undefined;
  const engineSteady: CheckpointFigures[] = [];
  let engineStartup: { primary: string[]; secondary: string[] } = { primary: [], secondary: [] };
  let engineFailover: string[] = [];
  for (const q of runs) {
    const scenario = {
      pages: q.scenario.pages,
      delayMs: q.scenario.delayMs + timerLateMs,
      durationMs: q.windowMs,
      deviceStateBytes: shipped.deviceStateBytes,
      link: profile.link,
      costs,
      failover: q.scenario.failover,
      replyStall,
    };
    const e = runEngineScenario(scenario);
    // The count: the engine meets the host's stalls where this run met them (host-timeline.ts), measured
    // beyond the engine's own gaps (a run without stalls). Its own constants (prep, device load) are left to
    // the timeline: as the profile's means they would make every checkpoint at least average, and one QEMU
    // ran quicker than that could not be met (a stall is never negative). Bytes still cross at the profile's
    // bandwidth and flush at its rate.
    const { replyStall: _, ...stalledScenario } = { ...scenario, failover: false };
    // Its timer runs at this scenario's own callback lateness (the load shifts between scenarios), the
    // run's mean where the trace holds too few waiting requests to fit it.
    const lateMs = scenarioLateness(q.primary.checkpoints, q.scenario.delayMs) ?? timerLateMs;
    // Its bytes cross at the quickest rate this window's QEMU sent them (or the profile's, if quicker): at the
    // profile's mean rate the engine's own send outlasted QEMU's quick ones, a stall is never negative, and
    // every engine checkpoint came out at least as long as QEMU's (a tick lost where QEMU's was not).
    const unstalled = {
      ...stalledScenario,
      link: { ...stalledScenario.link, bandwidthBytesPerSec: quickestRate(steady(q), profile.link) },
      delayMs: q.scenario.delayMs + lateMs,
      costs: {
        ...costs,
        prepMs: 0,
        deviceLoadMs: 0,
        wakeMs: lateMs,
        // This window's own vm_start runs where it has them (the load shifts between windows).
        vmStartRunMs: summariseVmStart(q.vmStartRuns)?.medianMs ?? costs.vmStartRunMs,
      },
    };
    const own = runEngineScenario(unstalled);
    // The engine traces a request at its tick, before the loop's wake-up, and QEMU after it: the reply's
    // own part is the link's round trip alone (the secondary stops and replies at once).
    const ownGaps = medianGaps(gapsOf(cutCheckpoints(own.primary, 'primary').checkpoints));
    // The engine's own send of each QEMU epoch's pages (QEMU's from the link's bytes): its median is of the
    // whole set, and an epoch after a back-to-back start whose vCPU got little CPU carried part of it.
    const perPageMs = ((PAGE_SIZE + PAGE_HEADER_WIRE_BYTES) * 1000) / unstalled.link.bandwidthBytesPerSec;
    const pagesOf = qemuPagesOf(q, qemuBytes);
    const ownSendOf = (i: number) => {
      const p = pagesOf(i);
      return p === undefined ? undefined : ownGaps.sendMs - (q.scenario.pages - p) * perPageMs;
    };
    const timeline = fitHostTimeline(
      q.primary.checkpoints,
      q.readyAt,
      { ...ownGaps, replyMs: 2 * profile.link.latencyMs },
      ownSendOf,
      pagesOf,
      q.readyAt + q.windowMs,
    );
    // Its timer meets the callback's lateness tick by tick as QEMU's did (tick-lateness.ts): at the delay,
    // each stretch of ticks late by what QEMU's chain shows there; the wake-up is inside that lateness.
    const lateness = fitTickLateness(q.primary.checkpoints, q.readyAt, q.scenario.delayMs);
    // Each resume's vCPU runs as long inside vm_start as QEMU's nearest in time did (from a few µs to tens of
    // ms on a loaded host): after a back-to-back start that run is the whole epoch, and its pages the send.
    const vmStartRuns = q.resumeRuns.map((r) => ({ atMs: r.runAt - q.readyAt, runMs: r.runMs }));
    const host = { timeline, readyAt: own.readyAt, lateness, vmStartRuns };
    const timed = { ...unstalled, delayMs: q.scenario.delayMs, costs: { ...unstalled.costs, wakeMs: 0 } };
    const hostedRun = runEngineScenario({ ...timed, host });
    const hosted = cutCheckpoints(hostedRun.primary, 'primary').checkpoints;
    const countOf = (s: EngineScenario) =>
      cutCheckpoints(runEngineScenario(s).primary, 'primary').checkpoints.length;
    const count = engineCount(HOST_SEEDS, (seed) =>
      seed === 1 ? hosted.length : countOf({ ...timed, seed, host }),
    );
    // What independent draws of the stall give, for comparison (an expectation, not this run's realisation).
    const drawn = engineCount(options.drawnSeeds ?? COUNT_SEEDS, (seed) =>
      countOf({ ...scenario, failover: false, seed }),
    );
    const primary = cutCheckpoints(e.primary, 'primary');
    const secondary = cutCheckpoints(e.secondary, 'secondary');
    const figures = engineFigures(e.checkpoints);
    // The overrunning scenario (the shortest delay) is shown gap by gap.
    if (q.scenario.delayMs === Math.min(...SCENARIOS.map((x) => x.delayMs))) {
      overrun = {
        delayMs: q.scenario.delayMs,
        qemu: anatomy(q.primary.checkpoints),
        engine: anatomy(primary.checkpoints),
        engineHost: anatomy(hosted),
        link: profile.link,
        costs,
        replyStall,
        backToBackPages: {
          qemu: backToBackPages(q.primary.checkpoints, qemuPagesOf(q, qemuBytes), q.scenario.pages),
          engineHost: backToBackPages(hosted, (i) => hostedRun.checkpoints[i]?.pages, q.scenario.pages),
        },
      };
    }
    engineSteady.push(...figures.filter((f) => f.pages === q.scenario.pages));
    engineStartup = { primary: primary.startup, secondary: secondary.startup };
    if (q.scenario.failover) engineFailover = secondary.failover;
    engineFigs.push(figures);
    scenarios.push({
      ...compareScenario({
        pages: q.scenario.pages,
        delayMs: q.scenario.delayMs,
        windowMs: q.windowMs,
        qemu: { primary: q.primary, secondary: q.secondary, figures: q.figures },
        engine: { primary, secondary, figures, count, drawnCount: drawn },
      }),
      window: q.window,
      heldSends: q.held,
    });
  }
  // Bytes and pause per size over all its windows (the windows are there to spread the load's drift).
  for (const [i, row] of scenarios.entries()) {
    const same = (j: number) => runs[j]?.index === runs[i]?.index;
    const qemuFigs = runs.filter((_, j) => same(j)).flatMap((q) => q.figures);
    const engineFigsAt = engineFigs.filter((_, j) => same(j)).flat();
    scenarios[i] = { ...row, ...compareFigures(row.pages, qemuFigs, engineFigsAt) };
  }
  const failed = runs.find((q) => q.scenario.failover);
  const first = runs[0];
  const failover = compareFailover(failed?.secondary.failover ?? [], engineFailover);
  return {
    // When QEMU ran (its first window's start), so a re-analysis names the run it re-analyses.
    ranAt: new Date(coloAt ?? started).toISOString(),
    qemuVersion: version,
    host: `${cpus().length} cores`,
    wallMs: Date.now() - started,
    ...(options.reuseRuns ? { reanalysed: true } : { loadAverage: { start: loadAtStart, end: loadAtEnd } }),
    relay: relay
      ? { quickAck: relay.quickAck, note: relay.note }
      : {
          quickAck: quickAcks.length > 0 && quickAcks.every(Boolean),
          note: quickAcks.every(Boolean)
            ? 'quick ACKs (as the kept runs were made)'
            : 'delayed ACKs in some or all kept runs (made before the quickack route, or where it could not be set)',
        },
    scenarios,
    startup: {
      qemuPrimary: first?.primary.startup ?? [],
      qemuSecondary: first?.secondary.startup ?? [],
      enginePrimary: engineStartup.primary,
      engineSecondary: engineStartup.secondary,
    },
    failover: {
      ...failover,
      qemuStatus: failed?.status ?? null,
      qemuExit: failed?.exit ?? null,
    },
    pauseProfile: {
      name: PAUSE_PROFILE,
      link: shippedLink,
      costs: shipped.costs,
      deviceStateBytes: shipped.deviceStateBytes,
      ...(others ? { otherRuns: others } : {}),
    },
    fits: {
      qemuPause: calibration.pause,
      enginePause: fitLine(
        mediansBySize(engineSteady, (f) => f.pauseMs),
        true,
      ),
      qemuBytes,
      engineBytes: fitLine(mediansBySize(engineSteady, (f) => f.bytes)),
    },
    deviceStateBytes,
    calibration,
    ...(kept.length > 0 ? { pooled: poolRuns(kept) } : {}),
    ...(overrun ? { overrun } : {}),
    points,
    timerLateMs,
    ...(vmStart ? { vmStart } : {}),
    timer: runs.map((q, i) => ({
      ...(stats[i] as TimerStats),
      lateness: latenessSummary(fitTickLateness(q.primary.checkpoints, q.readyAt, q.scenario.delayMs)),
      replay: countSpread(
        offsetsOf(q.primary.checkpoints),
        q.scenario.delayMs + timerLateMs,
        q.windowMs,
        200,
        timerLateMs,
      ),
    })),
  };
}

/**
 * QEMU's pages per primary checkpoint from the link's bytes (`bytes` the run's bytes-per-checkpoint line: its
 * intercept off, its slope per page), by checkpoint index; undefined where a side did not complete it.
 */
function qemuPagesOf(q: QemuScenario, bytes: LineFit): (i: number) => number | undefined {
  const byIndex: (number | undefined)[] = [];
  let k = 0;
  q.primary.checkpoints.forEach((pc, i) => {
    if (!pc.complete || !q.secondary.checkpoints[i]?.complete) return;
    const f = q.figures[k++];
    if (f)
      byIndex[i] = Math.min(
        q.scenario.pages,
        Math.max(0, Math.round((f.bytes - bytes.intercept) / bytes.slope)),
      );
  });
  return (i) => byIndex[i];
}

/**
 * The rate of a window's quickest sends, bytes per s: its steady checkpoints' median bytes over their 10th
 * percentile stop → `vmstate-received` (that includes the round trip: a floor, not a link); never below `link`'s.
 */
function quickestRate(figs: readonly CheckpointFigures[], link: { bandwidthBytesPerSec: number }): number {
  const sends = figs
    .map((f) => f.sendMs)
    .filter((x) => x > 0)
    .sort((a, b) => a - b);
  const quick = sends[Math.floor(0.1 * (sends.length - 1))];
  if (quick === undefined) return link.bandwidthBytesPerSec;
  return Math.max(link.bandwidthBytesPerSec, (median(figs.map((f) => f.bytes)) * 1000) / quick);
}

/** The fitted lateness over a window's ticks: median and largest, ms, and how many ticks. */
function latenessSummary(stretches: readonly TickLateness[]): {
  medianMs: number;
  maxMs: number;
  ticks: number;
} {
  const perTick = stretches.flatMap((s) => Array.from({ length: s.ticks }, () => s.lateMs));
  return { medianMs: median(perTick), maxMs: Math.max(...perTick), ticks: perTick.length };
}

/** What QEMU's timer did in one scenario (before the replay). */
type TimerStats = Omit<FidelityResult['timer'][number], 'replay' | 'lateness'>;

/** What QEMU's timer did in a run: the request interval and the checkpoints that overran the delay. */
function timerStats(q: QemuScenario): TimerStats {
  const cs = q.primary.checkpoints;
  const intervals: number[] = [];
  let overruns = 0;
  let backToBack = 0;
  for (let i = 0; i + 1 < cs.length; i++) {
    const c = cs[i];
    const next = cs[i + 1];
    if (!c || !next) continue;
    intervals.push(next.requestAt - c.requestAt);
    if (c.runAt - c.requestAt > q.scenario.delayMs) overruns++;
    // The next request left within 2 ms of the resume: the event was set while this one finished.
    if (next.requestAt - c.runAt < 2) backToBack++;
  }
  return {
    delayMs: q.scenario.delayMs,
    medianIntervalMs: median(intervals),
    meanIntervalMs: mean(intervals),
    overruns,
    backToBack,
  };
}

/** The engine's checkpoint count over seeds 1..`seeds`: mean and standard deviation. */
function engineCount(
  seeds: number,
  countWith: (seed: number) => number,
): { mean: number; sd: number; seeds: number } {
  const n: number[] = [];
  for (let seed = 1; seed <= seeds; seed++) n.push(countWith(seed));
  const m = mean(n);
  const sd = Math.sqrt(n.reduce((a, c) => a + (c - m) ** 2, 0) / Math.max(1, n.length - 1));
  return { mean: m, sd, seeds: n.length };
}
