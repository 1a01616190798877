/**
 * Compares one scenario's QEMU run with the engine's, message for message and in figures. Pure: it takes
 * both sides already cut into checkpoints (checkpoints.ts) and reduced to figures (figures.ts).
 */
import type { SideCheckpoint, SideTrace } from './checkpoints.ts';
import type { CheckpointFigures } from './figures.ts';
import { median, relDiff } from './fit.ts';

/** Tolerances of the "done when", as fractions or counts. */
export const TOLERANCE = { checkpoints: 1, bytes: 0.02, pause: 0.25 } as const;

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
  primary: SequenceCheck;
  secondary: SequenceCheck;
  /** Checkpoints started in the window. */
  qemuCheckpoints: number;
  engineCheckpoints: number;
  /** Median bytes per checkpoint at the scenario's dirty size, bytes. */
  qemuBytes: number;
  engineBytes: number;
  /** Median pause, ms. */
  qemuPauseMs: number;
  enginePauseMs: number;
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
  engine: { primary: SideTrace; secondary: SideTrace; figures: CheckpointFigures[] };
}): ScenarioComparison {
  const { qemu, engine } = input;
  const primary = checkSequences(qemu.primary.checkpoints, engine.primary.checkpoints);
  const secondary = checkSequences(qemu.secondary.checkpoints, engine.secondary.checkpoints);
  const qf = steady(qemu.figures, input.pages);
  const ef = steady(engine.figures, input.pages);
  const qemuCheckpoints = qemu.primary.checkpoints.length;
  const engineCheckpoints = engine.primary.checkpoints.length;
  const qemuBytes = median(qf.map((f) => f.bytes));
  const engineBytes = median(ef.map((f) => f.bytes));
  const qemuPauseMs = median(qf.map((f) => f.pauseMs));
  const enginePauseMs = median(ef.map((f) => f.pauseMs));
  return {
    pages: input.pages,
    delayMs: input.delayMs,
    windowMs: input.windowMs,
    primary,
    secondary,
    qemuCheckpoints,
    engineCheckpoints,
    qemuBytes,
    engineBytes,
    qemuPauseMs,
    enginePauseMs,
    qemuFlushPerSend: median(qf.map((f) => f.flushMs / f.sendMs)),
    engineFlushPerSend: median(ef.map((f) => f.flushMs / f.sendMs)),
    sequencesOk:
      primary.compared > 0 &&
      secondary.compared > 0 &&
      primary.identical === primary.compared &&
      secondary.identical === secondary.compared,
    countOk: Math.abs(qemuCheckpoints - engineCheckpoints) <= TOLERANCE.checkpoints,
    bytesOk: relDiff(engineBytes, qemuBytes) <= TOLERANCE.bytes,
    pauseOk: relDiff(enginePauseMs, qemuPauseMs) <= TOLERANCE.pause,
  };
}
