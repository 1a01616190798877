/**
 * Compares one scenario's QEMU run with the engine's, message for message and in figures. Pure: it takes
 * both sides already cut into checkpoints (checkpoints.ts) and reduced to figures (figures.ts).
 */

import { hash32 } from '../engine/rng.ts';
import type { SideCheckpoint, SideTrace } from './checkpoints.ts';
import type { CheckpointFigures } from './figures.ts';
import { median, relDiff } from './fit.ts';

/** Tolerances of the "done when", as fractions or counts. */
export const TOLERANCE = { checkpoints: 1, bytes: 0.02, pause: 0.25 } as const;

/** The engine's checkpoint count over several seeds (its stall draws differ by seed). */
export interface EngineCount {
  /** Mean and standard deviation of the count, checkpoints. */
  mean: number;
  sd: number;
  /** Seeds run. */
  seeds: number;
}

/** One side's sequence check. */
export interface SequenceCheck {
  /** Complete QEMU checkpoints compared. */
  compared: number;
  /** Of those, identical to the engine's checkpoint of the same index. */
  identical: number;
  /** QEMU's steps of its first checkpoint and the engine's, for the report. */
  qemuSteps: string[];
  engineSteps: string[];
  /** The first mismatch, if any: checkpoint index and both sequences. */
  mismatch?: { index: number; qemu: string[]; engine: string[] };
}

/** Everything compared for one scenario. */
export interface ScenarioComparison {
  pages: number;
  delayMs: number;
  /** Window from checkpoint-ready, ms. */
  windowMs: number;
  /**
   * Which of the scenario's windows this row is (1, 2: the run repeats each scenario, see run-fidelity.ts
   * `WINDOW_ORDER`); its bytes and pause are then every window's of its size pooled. Absent in old reports.
   */
  window?: number;
  primary: SequenceCheck;
  secondary: SequenceCheck;
  /** Checkpoints started in the window (the engine's: its mean over seeds, rounded). */
  qemuCheckpoints: number;
  engineCheckpoints: number;
  /** The engine's count over its seeds. */
  engineCount: EngineCount;
  /**
   * The count the engine gives with the request → reply stall drawn independently per checkpoint instead of
   * the run's stall timeline (an expectation over stalls, shown beside the checked count); absent in old reports.
   */
  engineDrawnCount?: EngineCount;
  /** Median bytes per checkpoint at the scenario's dirty size, bytes. */
  qemuBytes: number;
  engineBytes: number;
  /** Median pause, ms. */
  qemuPauseMs: number;
  enginePauseMs: number;
  /**
   * QEMU's own spread of that median, ms: the 5th and 95th percentiles of the median over seeded resamplings
   * of its checkpoints. A pause check that fails with the engine inside it failed on the run's own noise
   * (host stalls under load); it still fails.
   */
  qemuPauseIntervalMs: [number, number];
  /**
   * QEMU's steady checkpoints (all of the scenario's windows alike: this window's) whose send waited for a
   * delayed ACK (≥ 30 ms, src/fidelity/pause-factors.ts), of how many; absent in old reports.
   */
  heldSends?: { held: number; of: number };
  /** Median flush / send ratio. */
  qemuFlushPerSend: number;
  engineFlushPerSend: number;
  /** Verdicts against {@link TOLERANCE}. */
  sequencesOk: boolean;
  countOk: boolean;
  bytesOk: boolean;
  pauseOk: boolean;
}

function checkSequences(qemu: readonly SideCheckpoint[], engine: readonly SideCheckpoint[]): SequenceCheck {
  const q = qemu.filter((c) => c.complete);
  const e = engine.filter((c) => c.complete);
  const out: SequenceCheck = {
    compared: 0,
    identical: 0,
    qemuSteps: q[0]?.steps ?? [],
    engineSteps: e[0]?.steps ?? [],
  };
  for (let i = 0; i < q.length; i++) {
    const qs = (q[i] as SideCheckpoint).steps;
    // The engine ran the same number of checkpoints ±1: past its last, its last one stands in.
    const es = (e[Math.min(i, e.length - 1)] as SideCheckpoint | undefined)?.steps ?? [];
    out.compared++;
    if (qs.join(' ') === es.join(' ')) out.identical++;
    else out.mismatch ??= { index: i, qemu: qs, engine: es };
  }
  return out;
}

/** Steady-state figures at the scenario's size: checkpoints whose flush count is the guest's dirty set. */
function steady(figs: readonly CheckpointFigures[], pages: number): CheckpointFigures[] {
  const at = figs.filter((f) => f.pages === pages);
  return at.length > 0 ? at : [...figs];
}

/** Compares one scenario. */
export function compareScenario(input: {
  pages: number;
  delayMs: number;
  windowMs: number;
  qemu: { primary: SideTrace; secondary: SideTrace; figures: CheckpointFigures[] };
  engine: {
    primary: SideTrace;
    secondary: SideTrace;
    figures: CheckpointFigures[];
    /** The count over several seeds (its mean, rounded, is compared); the trace's own when absent. */
    count?: EngineCount;
    /** The count with independently drawn stalls (shown, not checked). */
    drawnCount?: EngineCount;
  };
}): ScenarioComparison {
  const { qemu, engine } = input;
  const primary = checkSequences(qemu.primary.checkpoints, engine.primary.checkpoints);
  const secondary = checkSequences(qemu.secondary.checkpoints, engine.secondary.checkpoints);
  const qemuCheckpoints = qemu.primary.checkpoints.length;
  const engineCount = engine.count ?? { mean: engine.primary.checkpoints.length, sd: 0, seeds: 1 };
  const engineCheckpoints = Math.round(engineCount.mean);
  return {
    pages: input.pages,
    delayMs: input.delayMs,
    windowMs: input.windowMs,
    primary,
    secondary,
    qemuCheckpoints,
    engineCheckpoints,
    engineCount,
    ...(engine.drawnCount ? { engineDrawnCount: engine.drawnCount } : {}),
    ...compareFigures(input.pages, qemu.figures, engine.figures),
    sequencesOk:
      primary.compared > 0 &&
      secondary.compared > 0 &&
      primary.identical === primary.compared &&
      secondary.identical === secondary.compared,
    countOk: Math.abs(qemuCheckpoints - engineCheckpoints) <= TOLERANCE.checkpoints,
  };
}

/** What {@link compareFigures} decides: bytes and pause at one dirty size. */
export type FigureComparison = Pick<
  ScenarioComparison,
  | 'qemuBytes'
  | 'engineBytes'
  | 'qemuPauseMs'
  | 'enginePauseMs'
  | 'qemuPauseIntervalMs'
  | 'qemuFlushPerSend'
  | 'engineFlushPerSend'
  | 'bytesOk'
  | 'pauseOk'
>;

/**
 * Bytes and pause at dirty size `pages`, QEMU's against the engine's: medians over the steady checkpoints
 * given (one window's, or every window's of that size pooled).
 */
export function compareFigures(
  pages: number,
  qemu: readonly CheckpointFigures[],
  engine: readonly CheckpointFigures[],
): FigureComparison {
  const qf = steady(qemu, pages);
  const ef = steady(engine, pages);
  const qemuBytes = median(qf.map((f) => f.bytes));
  const engineBytes = median(ef.map((f) => f.bytes));
  const qemuPauseMs = median(qf.map((f) => f.pauseMs));
  const enginePauseMs = median(ef.map((f) => f.pauseMs));
  return {
    qemuBytes,
    engineBytes,
    qemuPauseMs,
    enginePauseMs,
    qemuPauseIntervalMs: medianInterval(qf.map((f) => f.pauseMs)),
    qemuFlushPerSend: median(qf.map((f) => f.flushMs / f.sendMs)),
    engineFlushPerSend: median(ef.map((f) => f.flushMs / f.sendMs)),
    bytesOk: relDiff(engineBytes, qemuBytes) <= TOLERANCE.bytes,
    pauseOk: relDiff(enginePauseMs, qemuPauseMs) <= TOLERANCE.pause,
  };
}

/** Resamplings behind {@link medianInterval}. */
const MEDIAN_RESAMPLES = 400;

/** The 5th and 95th percentiles of the median of `xs` over seeded resamplings with replacement (a bootstrap). */
export function medianInterval(xs: readonly number[]): [number, number] {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length === 0) return [Number.NaN, Number.NaN];
  const medians: number[] = [];
  for (let s = 0; s < MEDIAN_RESAMPLES; s++) {
    medians.push(median(v.map((_, i) => v[hash32(s, i, 0x3d) % v.length] as number)));
  }
  medians.sort((a, b) => a - b);
  const at = (q: number) => medians[Math.floor(q * (medians.length - 1))] as number;
  return [at(0.05), at(0.95)];
}

/** The failover state sequences of both secondaries, compared (see {@link compareFailover}). */
export interface FailoverComparison {
  /** Every `colo_failover_set_state` of each secondary, in order. */
  qemu: string[];
  engine: string[];
  /** The take-over: the states after the last `relaunch`; the engine's in QEMU's names. */
  qemuTakeover: string[];
  engineTakeover: string[];
  /** Both took over, state for state alike. */
  ok: boolean;
}

/**
 * The engine's failover states in QEMU's names: its `claiming` (it claims the VM's fence before it takes
 * over: a named deviation) is QEMU's `require` → `active`; `fenced` (the claim lost) has no QEMU name.
 */
const ENGINE_AS_QEMU: Readonly<Record<string, readonly string[]>> = {
  claiming: ['require', 'active'],
};

/** The states after the last `relaunch` (a failover asked for while a checkpoint loads waits for its end). */
function takeover(states: readonly string[]): string[] {
  return states.slice(states.lastIndexOf('relaunch') + 1);
}

/**
 * Compares the secondaries' failover state sequences. Whether a `relaunch` comes first depends on when the
 * failover lands (inside a checkpoint's load or not: QEMU's `secondary_vm_do_failover` and the engine's
 * deferred failover alike), so the take-over after it is what is compared: QEMU's states and the engine's,
 * mapped into QEMU's names, must be the same and end in `completed`.
 */
export function compareFailover(qemu: readonly string[], engine: readonly string[]): FailoverComparison {
  const qemuTakeover = takeover(qemu);
  const engineTakeover = takeover(engine).flatMap((s) => ENGINE_AS_QEMU[s] ?? [s]);
  return {
    qemu: [...qemu],
    engine: [...engine],
    qemuTakeover,
    engineTakeover,
    ok: qemuTakeover.at(-1) === 'completed' && qemuTakeover.join(' ') === engineTakeover.join(' '),
  };
}
