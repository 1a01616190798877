/**
 * How long QEMU's primary vCPU runs inside `vm_start` before COLO traces its resume. `vm_start` announces the
 * new run state (`vm_state_notify running 1`, a trace event) and then resumes the vCPUs; only after it
 * returns does the COLO thread trace `run` and look at its checkpoint event. On a busy 2-core host that thread
 * can wait for a CPU in between while the vCPU runs, and what the guest writes then belongs to the next epoch:
 * after a back-to-back start (the event already set) that epoch is the whole of the guest's run time. The
 * gap notify → `run` is an upper bound on that run (the vCPUs resume just after the notify).
 */
import { BACK_TO_BACK_MS } from './anatomy.ts';
import type { SideCheckpoint } from './checkpoints.ts';
import { mean, median } from './fit.ts';

const NOTIFY = /^\d+@(\d+)\.(\d{6}):vm_state_notify running 1\b/;

/** Times of the `vm_state_notify running 1` events in a QEMU trace log (the vCPUs resume next), ms. */
export function parseVcpuResumes(log: string): number[] {
  const out: number[] = [];
  for (const line of log.split('\n')) {
    const m = NOTIFY.exec(line);
    if (m) out.push(Number(m[1]) * 1000 + Number(m[2]) / 1000);
  }
  return out.sort((a, b) => a - b);
}

/** One resume's vCPU run inside `vm_start`: when the COLO thread traced the resume, and the run before it, ms. */
export interface ResumeRun {
  /** The traced resume (`run`), ms (trace time). */
  runAt: number;
  /** Its `vm_start` notify → the traced resume, ms. */
  runMs: number;
}

/**
 * Per complete checkpoint, its resume and the time from its `vm_start` notify to that resume, ms: the last
 * notify at or before the resume and after the stop (a checkpoint whose pause holds none is left out: an older
 * trace, or one recorded without the event).
 */
export function resumeRuns(checkpoints: readonly SideCheckpoint[], resumes: readonly number[]): ResumeRun[] {
  const out: ResumeRun[] = [];
  for (const c of checkpoints) {
    if (!c.complete || !Number.isFinite(c.runAt) || !Number.isFinite(c.stopAt)) continue;
    let last = Number.NaN;
    for (const at of resumes) {
      if (at > c.runAt) break;
      if (at >= c.stopAt) last = at;
    }
    if (Number.isFinite(last)) out.push({ runAt: c.runAt, runMs: c.runAt - last });
  }
  return out;
}

/** The runs of {@link resumeRuns} alone, ms. */
export function vmStartRuns(checkpoints: readonly SideCheckpoint[], resumes: readonly number[]): number[] {
  return resumeRuns(checkpoints, resumes).map((r) => r.runMs);
}

/** What the traces show of the vCPU's run inside `vm_start`, over a set of resumes. */
export interface VmStartRun {
  /** Resumes measured. */
  resumes: number;
  /** Median and mean notify → traced resume, ms. */
  medianMs: number;
  meanMs: number;
  /** Share of resumes whose vCPU could run over 1 ms before the trace (0..1). */
  longShare: number;
}

/** Summarises `runs` (ms); undefined when there are none (a trace without `vm_state_notify`). */
export function summariseVmStart(runs: readonly number[]): VmStartRun | undefined {
  if (runs.length === 0) return undefined;
  return {
    resumes: runs.length,
    medianMs: median(runs),
    meanMs: mean(runs),
    longShare: runs.filter((x) => x > 1).length / runs.length,
  };
}

/** What the epochs after back-to-back starts carried over a window: how many, their mean and how many full. */
export interface BackToBackPages {
  /** Epochs that followed a back-to-back start (and were measured). */
  n: number;
  /** Their mean dirty pages carried, pages. */
  meanPages: number;
  /** How many carried the whole dirty set. */
  full: number;
}

/**
 * The pages carried by the epochs after back-to-back starts (a request within {@link BACK_TO_BACK_MS} of the
 * previous resume): `pagesOf(i)` is checkpoint i's pages (undefined where not measured), `setPages` the
 * guest's dirty set, pages.
 */
export function backToBackPages(
  checkpoints: readonly SideCheckpoint[],
  pagesOf: (i: number) => number | undefined,
  setPages: number,
): BackToBackPages {
  const pages: number[] = [];
  checkpoints.forEach((c, i) => {
    const prev = checkpoints[i - 1];
    if (!prev?.complete || c.requestAt - prev.runAt >= BACK_TO_BACK_MS) return;
    const p = pagesOf(i);
    if (p !== undefined && Number.isFinite(p)) pages.push(p);
  });
  return {
    n: pages.length,
    meanPages: pages.length ? mean(pages) : Number.NaN,
    full: pages.filter((p) => p >= setPages).length,
  };
}
