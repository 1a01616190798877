/**
 * The profile fitted over several reference runs: each `npm run fidelity` keeps its per-size points in
 * fidelity/runs.json (the last {@link KEPT_RUNS}), and one line is fitted through all of them — a shared
 * machine's load moves a single run's figures several-fold, so no single run is the profile.
 */
import {
  type Calibration,
  calibrate,
  type PauseResidual,
  pauseResiduals,
  type SizePoint,
} from './calibrate.ts';
import { type LineFit, median } from './fit.ts';

/** How many runs fidelity/runs.json keeps (the oldest goes first). */
export const KEPT_RUNS = 8;

/** One reference run as kept for the pooled fit. */
export interface KeptRun {
  /** When it ran (ISO 8601). */
  ranAt: string;
  /** Its per-size points (means of the steady checkpoints). */
  points: SizePoint[];
  /** Device state it gave the engine, bytes. */
  deviceStateBytes: number;
  /** Its timer callback lateness, ms. */
  timerLateMs: number;
  /** The link meter acknowledged at once (relay-ack.ts); absent in runs kept before it recorded this. */
  quickAck?: boolean;
  /** The host's 1-minute load average when the run started; absent in runs kept before. */
  loadAverage?: number;
}

/** The pooled fit and what it came from. */
export interface PooledFit {
  /** Runs pooled, oldest first. */
  runs: KeptRun[];
  /** The fit through every run's points; residuals in run order, then size order. */
  calibration: Calibration;
  /** Median over the runs, bytes and ms. */
  deviceStateBytes: number;
  timerLateMs: number;
  /**
   * Each kept run's per-size medians against the pause line fitted over the *other* kept runs (absent with
   * fewer than two runs): how the profile's line does on a run it was not fitted to.
   */
  crossCheck?: { ranAt: string; residuals: PauseResidual[] }[];
}

/** The pause line fitted over the kept runs other than the one whose points are `points`. */
export interface OtherRunsFit {
  /** Runs fitted. */
  runs: number;
  /** Whether one kept run was this run (its points equal) and was left out. */
  leftOut: boolean;
  /** The pause line, ms against pages. */
  pause: LineFit;
}

/** Whether two runs' per-size points are the same run's (re-analysis of a kept run gives equal points). */
function sameRun(a: readonly SizePoint[], b: readonly SizePoint[]): boolean {
  const key = (ps: readonly SizePoint[]) =>
    JSON.stringify(ps.map((p) => [p.pages, p.n, p.pauseMedianMs.toFixed(3)]));
  return key(a) === key(b);
}

/**
 * The pause line over the kept runs other than the run whose per-size points are `points` (all of them when
 * it is not kept); undefined when no other run is kept.
 */
export function leaveOneOut(
  kept: readonly KeptRun[],
  points: readonly SizePoint[],
): OtherRunsFit | undefined {
  const others = kept.filter((r) => !sameRun(r.points, points));
  if (others.length === 0) return undefined;
  return {
    runs: others.length,
    leftOut: others.length < kept.length,
    pause: poolRuns(others, false).calibration.pause,
  };
}

/** What a finished run offers to fidelity/runs.json (a {@link FidelityResult}'s fields of the same names). */
export interface RunToKeep {
  ranAt: string;
  points: SizePoint[];
  deviceStateBytes: number;
  timerLateMs: number;
  relay?: { quickAck: boolean; note: string };
  loadAverage?: { start: number; end: number };
}

/**
 * The entry `--keep-run` adds for `run`, or why it is refused: only a run whose link meter acknowledged at
 * once joins the fit (the kept runs all did; a run with the delayed-ACK holds would pull the line up).
 */
export function keptRunOf(run: RunToKeep): KeptRun | { refused: string } {
  if (run.relay?.quickAck !== true) {
    return {
      refused:
        `not kept in fidelity/runs.json: ${run.relay?.note ?? 'the link meter did not record quick ACKs'}; ` +
        'its runs all had quick ACKs (src/fidelity/relay-ack.ts)',
    };
  }
  return {
    ranAt: run.ranAt,
    points: run.points,
    deviceStateBytes: run.deviceStateBytes,
    timerLateMs: run.timerLateMs,
    quickAck: true,
    ...(run.loadAverage ? { loadAverage: run.loadAverage.start } : {}),
  };
}

/** Adds `run` to the kept runs (dropping the oldest beyond {@link KEPT_RUNS}). */
export function keepRun(kept: readonly KeptRun[], run: KeptRun): KeptRun[] {
  return [...kept, run].slice(-KEPT_RUNS);
}

/** Reads fidelity/runs.json's text; a malformed file is a one-line error. */
export function parseKeptRuns(text: string): KeptRun[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`fidelity/runs.json: not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const ok =
    Array.isArray(data) &&
    data.every(
      (r) =>
        typeof r === 'object' &&
        r !== null &&
        typeof r.ranAt === 'string' &&
        Array.isArray(r.points) &&
        r.points.every(
          (p: unknown) =>
            typeof p === 'object' &&
            p !== null &&
            ['pages', 'n', 'pauseMs', 'sendMs', 'flushMs', 'replyMs', 'restMs', 'pauseMedianMs'].every(
              (k) => typeof (p as Record<string, unknown>)[k] === 'number',
            ),
        ) &&
        typeof r.deviceStateBytes === 'number' &&
        typeof r.timerLateMs === 'number',
    );
  if (!ok)
    throw new Error(
      'fidelity/runs.json: not a list of kept runs ({ranAt, points, deviceStateBytes, timerLateMs})',
    );
  return data as KeptRun[];
}

/**
 * Fits one profile through the points of every kept run (at least two distinct sizes among them); with
 * `crossCheck` (the default), each run is also checked against the fit over the others.
 */
export function poolRuns(runs: readonly KeptRun[], crossCheck = true): PooledFit {
  if (runs.length === 0) throw new Error('no kept run to pool');
  const deviceStateBytes = Math.round(median(runs.map((r) => r.deviceStateBytes)));
  const cross =
    crossCheck && runs.length > 1
      ? runs.map((r, i) => ({
          ranAt: r.ranAt,
          residuals: pauseResiduals(
            poolRuns(
              runs.filter((_, j) => j !== i),
              false,
            ).calibration.pause,
            r.points,
          ),
        }))
      : undefined;
  return {
    ...(cross ? { crossCheck: cross } : {}),
    runs: [...runs],
    calibration: calibrate(
      runs.flatMap((r) => r.points),
      deviceStateBytes,
    ),
    deviceStateBytes,
    timerLateMs: median(runs.map((r) => r.timerLateMs)),
  };
}
