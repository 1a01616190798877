/**
 * What QEMU's pause depends on besides the dirty page count, read off kept reference runs
 * (scripts/pause-factors.ts prints it): per checkpoint, the idle gap before the stop, whether it started
 * back-to-back, its place in the window, and the pause cut into the link's flow of the epoch's bytes, the two
 * places a Nagle-held tail can wait for a delayed ACK (QEMU's own socket; the link meter's relay to the
 * secondary), and `vmstate-received` → resume. Then whether a pause term in the gap could meet every run's
 * medians at once: the band of predictions within the tolerance of every run's median at each size, and
 * which lines (with or without a term in the gap) pass through every band.
 */
import type { TraceEffect } from '../engine/effects.ts';
import { BACK_TO_BACK_MS } from './anatomy.ts';
import type { SideTrace } from './checkpoints.ts';
import type { LinkChunk } from './link-meter.ts';

/**
 * A hold at least this long between two points of the send is a Nagle-held write waiting for a delayed ACK
 * (Linux's delayed-ACK timer is at least 40 ms; the send's other waits on these runs stay under 20 ms), ms.
 */
export const HOLD_MS = 30;

/** The start of the send timed by {@link PauseRow.firstBytesMs}: 1 MiB, bytes. */
export const FIRST_BYTES = 1 << 20;

/** One complete checkpoint of a QEMU window, cut for the pause's factors. Times in ms. */
export interface PauseRow {
  /** Pages the secondary flushed, pages. */
  pages: number;
  /** Its index among the window's checkpoints (0: the first). */
  index: number;
  /** The previous checkpoint's resume → this stop on the primary, ms (NaN for the first). */
  gapMs: number;
  /** The request left within {@link BACK_TO_BACK_MS} of the previous resume (the event was already set). */
  backToBack: boolean;
  /** Primary stop → resume, ms. */
  pauseMs: number;
  /** Primary stop → the link meter's last read of the epoch's bytes (primary → secondary), ms. */
  flowMs: number;
  /**
   * Primary stop → the read that brings the epoch's bytes to {@link FIRST_BYTES}, ms (NaN for a smaller
   * epoch): a TCP window restarted after an idle sender (RFC 2861) would slow the send's start.
   */
  firstBytesMs: number;
  /**
   * The primary's `vmstate-size` traced (its RAM written) → the link meter's last read, ms. Includes the
   * bytes still in the sockets' buffers then (at 8 192 pages that alone is ~30–40 ms): see {@link silenceMs}.
   */
  primaryHoldMs: number;
  /**
   * The longest silence between two reads of the epoch's bytes (primary → secondary), from its first read to
   * its last, ms: a Nagle-held write waiting for the meter's delayed ACK is a silence of ~40 ms near the end.
   */
  silenceMs: number;
  /** The link meter's last read → the secondary's `vmstate-size` received (the relay's hop), ms. */
  relayHoldMs: number;
  /** `vmstate-received` → resume on the primary (flush, device load, `vmstate-loaded`), ms. */
  restMs: number;
}

/** The times of one message on one side's events, in order, ms. */
function messageTimes(events: readonly TraceEffect[], name: TraceEffect['name'], msg: string): number[] {
  return events.filter((e) => e.name === name && e.fields.msg === msg).map((e) => e.at);
}

/** The first of `times` (ascending) in [from, to], or NaN. */
function firstIn(times: readonly number[], from: number, to: number): number {
  return times.find((t) => t >= from && t <= to) ?? Number.NaN;
}

/**
 * Per checkpoint that both sides completed, its {@link PauseRow}: the primary's and the secondary's checkpoints
 * paired in order, their raw events for the `vmstate-size` message, and the link meter's reads.
 */
export function pauseRows(
  primary: SideTrace,
  secondary: SideTrace,
  primaryEvents: readonly TraceEffect[],
  secondaryEvents: readonly TraceEffect[],
  link: readonly LinkChunk[],
): PauseRow[] {
  const sizeSent = messageTimes(primaryEvents, 'colo_send_message', 'vmstate-size');
  const sizeReceived = messageTimes(secondaryEvents, 'colo_receive_message', 'vmstate-size');
  const out: PauseRow[] = [];
  primary.checkpoints.forEach((pc, i) => {
    const sc = secondary.checkpoints[i];
    if (!pc.complete || !sc?.complete) return;
    let lastRead = Number.NaN;
    let firstBytesAt = Number.NaN;
    let bytes = 0;
    let silenceMs = 0;
    for (const c of link) {
      if (c.dir !== 'p2s' || c.at <= pc.stopAt || c.at >= pc.receivedAt) continue;
      if (c.at - lastRead > silenceMs) silenceMs = c.at - lastRead;
      lastRead = c.at;
      bytes += c.bytes;
      if (bytes >= FIRST_BYTES && Number.isNaN(firstBytesAt)) firstBytesAt = c.at;
    }
    const prev = primary.checkpoints[i - 1];
    out.push({
      pages: sc.dirtyPages,
      index: i,
      gapMs: prev ? pc.stopAt - prev.runAt : Number.NaN,
      backToBack: prev !== undefined && pc.requestAt - prev.runAt < BACK_TO_BACK_MS,
      pauseMs: pc.runAt - pc.stopAt,
      flowMs: lastRead - pc.stopAt,
      firstBytesMs: firstBytesAt - pc.stopAt,
      primaryHoldMs: lastRead - firstIn(sizeSent, pc.stopAt, pc.receivedAt),
      silenceMs,
      relayHoldMs: firstIn(sizeReceived, sc.requestAt, sc.receivedAt) - lastRead,
      restMs: pc.runAt - pc.receivedAt,
    });
  });
  return out;
}

/**
 * Whether a row's send waited for a delayed ACK on either hop: a silence of at least {@link HOLD_MS} on QEMU's
 * socket (not `vmstate-size` → the last read, which at 8 192 pages is that long with no wait at all) or on the
 * relay's hop.
 */
export function held(r: PauseRow): boolean {
  return r.silenceMs >= HOLD_MS || r.relayHoldMs >= HOLD_MS;
}

/** A least-squares slope with its standard error. */
export interface Slope {
  /** y per unit of x. */
  slope: number;
  /** Its standard error (NaN with fewer than three points). */
  se: number;
  /** Points used. */
  n: number;
}

/**
 * The within-group least-squares slope of y on x: each group's own means taken off (a window's load, size and
 * delay are its own), one slope through every group's deviations; non-finite points dropped. Throws when no
 * group varies in x.
 */
export function withinSlope(groups: readonly (readonly { x: number; y: number }[])[]): Slope {
  let sxx = 0;
  let sxy = 0;
  const dev: { dx: number; dy: number }[] = [];
  let fitted = 0;
  for (const g of groups) {
    const ok = g.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
    if (ok.length === 0) continue;
    fitted++;
    const mx = ok.reduce((a, p) => a + p.x, 0) / ok.length;
    const my = ok.reduce((a, p) => a + p.y, 0) / ok.length;
    for (const p of ok) {
      dev.push({ dx: p.x - mx, dy: p.y - my });
      sxx += (p.x - mx) ** 2;
      sxy += (p.x - mx) * (p.y - my);
    }
  }
  if (sxx === 0) throw new Error('a within-group slope needs x to vary inside a group');
  const slope = sxy / sxx;
  const n = dev.length;
  const dof = n - fitted - 1;
  const ssr = dev.reduce((a, d) => a + (d.dy - slope * d.dx) ** 2, 0);
  return { slope, se: dof > 0 ? Math.sqrt(ssr / dof / sxx) : Number.NaN, n };
}

/** The predictions at one size that are within the tolerance of every run's median there, ms. */
export interface Band {
  /** Dirty pages, pages. */
  pages: number;
  /** Lowest and highest such prediction, ms (lo > hi: none is). */
  lo: number;
  hi: number;
}

/**
 * Per size, the band of predictions within `tolerance` (0.25: ±25 %) of every run's median: a prediction P
 * meets a median m when |P − m| ≤ tolerance · m, so the band is [max (1 − t) m, min (1 + t) m] over the runs.
 */
export function bands(
  runs: readonly (readonly { pages: number; medianMs: number }[])[],
  tolerance: number,
): Band[] {
  const sizes = [...new Set(runs.flatMap((r) => r.map((p) => p.pages)))].sort((a, b) => a - b);
  return sizes.map((pages) => {
    const ms = runs.flatMap((r) => r.filter((p) => p.pages === pages).map((p) => p.medianMs));
    return {
      pages,
      lo: Math.max(...ms.map((m) => (1 - tolerance) * m)),
      hi: Math.min(...ms.map((m) => (1 + tolerance) * m)),
    };
  });
}

/**
 * The slopes (ms per page) of the lines a + slope · pages that pass through every band (after taking
 * `term(pages)` off both its edges: a pause term the line does not carry), as [min, max]; min > max when
 * no line does. Two points bound the slope from below where the higher size's floor must be reached from the
 * lower size's ceiling, and from above the other way round.
 */
export function lineSlopes(
  bs: readonly Band[],
  term: (pages: number) => number = () => 0,
): { min: number; max: number } {
  let min = Number.NEGATIVE_INFINITY;
  let max = Number.POSITIVE_INFINITY;
  for (const a of bs) {
    for (const b of bs) {
      if (b.pages <= a.pages) continue;
      const dx = b.pages - a.pages;
      const loA = a.lo - term(a.pages);
      const hiA = a.hi - term(a.pages);
      const loB = b.lo - term(b.pages);
      const hiB = b.hi - term(b.pages);
      if (loA > hiA || loB > hiB) return { min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY };
      min = Math.max(min, (loB - hiA) / dx);
      max = Math.min(max, (hiB - loA) / dx);
    }
  }
  return { min, max };
}

/**
 * The coefficients c of a pause term c · `x(pages)` (x: the size's idle gap, or 1 where a condition holds)
 * with which some line rising with the pages (slope ≥ 0) passes through every band, scanned from `from` to
 * `to` in `steps` steps: the feasible c as [min, max], undefined when none is.
 */
export function termRange(
  bs: readonly Band[],
  x: (pages: number) => number,
  from: number,
  to: number,
  steps: number,
): { min: number; max: number } | undefined {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let k = 0; k <= steps; k++) {
    const c = from + ((to - from) * k) / steps;
    const s = lineSlopes(bs, (p) => c * x(p));
    if (s.min <= s.max && s.max >= 0) {
      min = Math.min(min, c);
      max = Math.max(max, c);
    }
  }
  return min <= max ? { min, max } : undefined;
}

/** A pause line in the pages plus a term: intercept + slope · pages + c · term, ms. */
export interface TermFit {
  /** ms. */
  intercept: number;
  /** ms per page. */
  slope: number;
  /** ms per unit of the term. */
  c: number;
}

/**
 * Least squares of medians on the pages and a term, each point weighted by 1 / median² (relative error, as the
 * profile's pause line: calibrate.ts): the three normal equations solved by elimination. Throws when the
 * points do not fix all three (fewer than three, or the term a line in the pages).
 */
export function fitWithTerm(points: readonly { pages: number; term: number; medianMs: number }[]): TermFit {
  const a = [
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
  ];
  for (const p of points) {
    const x = [1, p.pages, p.term];
    const w = 1 / (p.medianMs * p.medianMs);
    for (let i = 0; i < 3; i++) {
      const row = a[i] as number[];
      for (let j = 0; j < 3; j++) row[j] = (row[j] as number) + w * (x[i] as number) * (x[j] as number);
      row[3] = (row[3] as number) + w * (x[i] as number) * p.medianMs;
    }
  }
  for (let i = 0; i < 3; i++) {
    let pivot = i;
    for (let r = i + 1; r < 3; r++) {
      if (Math.abs((a[r] as number[])[i] as number) > Math.abs((a[pivot] as number[])[i] as number))
        pivot = r;
    }
    [a[i], a[pivot]] = [a[pivot] as number[], a[i] as number[]];
    const row = a[i] as number[];
    const d = row[i] as number;
    if (Math.abs(d) < 1e-12 * Math.max(1, ...row.map(Math.abs))) {
      throw new Error('a line plus a term needs points that fix all three coefficients');
    }
    for (let r = 0; r < 3; r++) {
      if (r === i) continue;
      const other = a[r] as number[];
      const f = (other[i] as number) / d;
      for (let k = i; k < 4; k++) other[k] = (other[k] as number) - f * (row[k] as number);
    }
  }
  const coef = (i: number) => ((a[i] as number[])[3] as number) / ((a[i] as number[])[i] as number);
  return { intercept: coef(0), slope: coef(1), c: coef(2) };
}
