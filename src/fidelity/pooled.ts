/**
 * The profile fitted over several reference runs: each `npm run fidelity` keeps its per-size points in
 * fidelity/runs.json (the last {@link KEPT_RUNS}), and one line is fitted through all of them — a shared
 * machine's load moves a single run's figures several-fold, so no single run is the profile.
 */
import { type Calibration, calibrate, type SizePoint } from './calibrate.ts';
import { median } from './fit.ts';

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
}

/** Adds `run` to the kept runs (dropping the oldest beyond {@link KEPT_RUNS}). */
export function keepRun(kept: readonly KeptRun[], run: KeptRun): KeptRun[] {
  return [...kept, run].slice(-KEPT_RUNS);
}

/** Reads fidelity/runs.json's text; a malformed file is a one-line error. */
export function parseKeptRuns(text: string): KeptRun[] {
  const data: unknown = JSON.parse(text);
  const ok =
    Array.isArray(data) &&
    data.every(
      (r) =>
        typeof r === 'object' &&
        r !== null &&
        typeof r.ranAt === 'string' &&
        Array.isArray(r.points) &&
        typeof r.deviceStateBytes === 'number' &&
        typeof r.timerLateMs === 'number',
    );
  if (!ok)
    throw new Error(
      'fidelity/runs.json: not a list of kept runs ({ranAt, points, deviceStateBytes, timerLateMs})',
    );
  return data as KeptRun[];
}

/** Fits one profile through the points of every kept run (at least two distinct sizes among them). */
export function poolRuns(runs: readonly KeptRun[]): PooledFit {
  if (runs.length === 0) throw new Error('no kept run to pool');
  const deviceStateBytes = Math.round(median(runs.map((r) => r.deviceStateBytes)));
  return {
    runs: [...runs],
    calibration: calibrate(
      runs.flatMap((r) => r.points),
      deviceStateBytes,
    ),
    deviceStateBytes,
    timerLateMs: median(runs.map((r) => r.timerLateMs)),
  };
}
