/** Small statistics for the fidelity comparison: medians and straight-line fits. */

/** A fitted line y = intercept + slope · x, with its coefficient of determination. */
export interface LineFit {
  slope: number;
  intercept: number;
  /** R², 0..1 (1 when every point is on the line; NaN with fewer than two distinct x). */
  r2: number;
  /** Points fitted. */
  n: number;
}

/** Median of `xs` (NaN for none). */
export function median(xs: readonly number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Arithmetic mean of the finite values of `xs` (NaN for none). */
export function mean(xs: readonly number[]): number {
  const s = xs.filter((x) => Number.isFinite(x));
  return s.length === 0 ? Number.NaN : s.reduce((a, x) => a + x, 0) / s.length;
}

/**
 * Least-squares line through (x, y) points, non-finite points dropped, each point weighted by its `w`
 * (default 1; a mean of n samples: n). With `relative`, each weight is divided by y², so the fit minimises
 * relative rather than absolute error (what a ±% tolerance measures). Throws when fewer than two distinct x remain: a slope needs two sizes.
 */
export function fitLine(points: readonly { x: number; y: number; w?: number }[], relative = false): LineFit {
  const p = points.filter((q) => Number.isFinite(q.x) && Number.isFinite(q.y) && (!relative || q.y !== 0));
  const n = p.length;
  const w = (q: { y: number; w?: number }) => (q.w ?? 1) * (relative ? 1 / (q.y * q.y) : 1);
  const sw = p.reduce((a, q) => a + w(q), 0);
  const mx = p.reduce((a, q) => a + w(q) * q.x, 0) / sw;
  const my = p.reduce((a, q) => a + w(q) * q.y, 0) / sw;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (const q of p) {
    sxx += w(q) * (q.x - mx) ** 2;
    sxy += w(q) * (q.x - mx) * (q.y - my);
    syy += w(q) * (q.y - my) ** 2;
  }
  if (n < 2 || sxx === 0) throw new Error(`a line fit needs at least two distinct x values, got ${n} points`);
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  const r2 = syy === 0 ? 1 : (sxy * sxy) / (sxx * syy);
  return { slope, intercept, r2, n };
}

/** Relative difference of `a` from the reference `ref` (|a − ref| / |ref|). */
export function relDiff(a: number, ref: number): number {
  return Math.abs(a - ref) / Math.abs(ref);
}
