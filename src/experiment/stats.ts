/** Means and 95 % confidence intervals over seeds (Student's t: few seeds, unknown variance). */

/** Two-sided 97.5 % quantiles of Student's t for 1..30 degrees of freedom. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** The t quantile for a 95 % interval with `df` degrees of freedom (1.96 beyond 30; NaN below 1). */
export function tQuantile95(df: number): number {
  if (df < 1) return Number.NaN;
  return T975[df - 1] ?? (df <= 60 ? 2.0 : 1.96);
}

/** Mean, 95 % confidence half-width (NaN for one value), minimum and maximum of a sample. */
export interface Estimate {
  /** Sample size. */
  n: number;
  /** Mean. */
  mean: number;
  /** Half-width of the 95 % confidence interval of the mean (t-based); NaN when n < 2. */
  ci95: number;
  /** Smallest value. */
  min: number;
  /** Largest value. */
  max: number;
}

/** Estimates the mean of `values` with its 95 % confidence interval. */
export function estimate(values: readonly number[]): Estimate {
  const n = values.length;
  if (n === 0) return { n, mean: Number.NaN, ci95: Number.NaN, min: Number.NaN, max: Number.NaN };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1) : Number.NaN;
  return {
    n,
    mean,
    ci95: n > 1 ? (tQuantile95(n - 1) * Math.sqrt(variance)) / Math.sqrt(n) : Number.NaN,
    min: Math.min(...values),
    max: Math.max(...values),
  };
}
