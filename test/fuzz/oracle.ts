/**
 * The documented-errors-only oracle of the decoder fuzz tests, and the tally each test asserts its coverage
 * with. A decoder either returns a value (checked by the test) or throws one of the errors its TSDoc names;
 * anything else — a TypeError, a RangeError (stack overflow included), an error of another class or with
 * an unknown message — fails the test with the input that caused it.
 */
import { expect } from 'vitest';

/**
 * Timeout of one fuzz test, ms: generous (the unit project's default is 120 s), so that a loaded shared
 * machine does not fail a loop of 100 000 inputs that takes 10–40 s alone; a hang still ends.
 */
export const FUZZ_TIMEOUT_MS = 300_000;

/** One documented rejection: the error class, and a message pattern per rejection category. */
export interface DocumentedErrors {
  /** True when `error` is of a documented class (exact class, not merely a subclass of Error). */
  is(error: unknown): boolean;
  /** Categories, tried in order: the first whose pattern matches the message names the rejection. */
  categories: readonly (readonly [category: string, pattern: RegExp])[];
}

/** True when `error`'s class is exactly `cls` (a TypeError is an Error, but is not documented as one). */
export function exactly(cls: abstract new (...args: never[]) => Error): (error: unknown) => boolean {
  return (error) => error instanceof Error && Object.getPrototypeOf(error) === cls.prototype;
}

/** Counts per outcome: `accepted` and one count per rejection category. */
export class Tally {
  readonly counts = new Map<string, number>();
  accepted = 0;
  total = 0;
  /** The loop's figures, when the test hands them over (printed with the summary). */
  stats?: LoopStats;

  constructor(
    readonly name: string,
    readonly documented: DocumentedErrors,
  ) {}

  /** Counts an accepted input. */
  accept(): void {
    this.total++;
    this.accepted++;
  }

  /**
   * Counts a rejection, or throws when `error` is not documented (naming input `index` and a preview of it).
   *
   * @returns The category.
   */
  reject(error: unknown, index: number, preview: () => string): string {
    this.total++;
    const message = error instanceof Error ? error.message : String(error);
    const category = this.documented.is(error)
      ? this.documented.categories.find(([, re]) => re.test(message))?.[0]
      : undefined;
    if (category === undefined) {
      const what = error instanceof Error ? `${error.name}: ${message.slice(0, 300)}` : String(error);
      throw new Error(`${this.name}: input #${index} (${preview().slice(0, 400)}) threw ${what}`, {
        cause: error,
      });
    }
    this.counts.set(category, (this.counts.get(category) ?? 0) + 1);
    return category;
  }

  /** Inputs counted in the given categories. */
  sum(categories: readonly string[]): number {
    return categories.reduce((n, c) => n + (this.counts.get(c) ?? 0), 0);
  }

  /** One line: inputs, accepted, rejections per category. */
  summary(): string {
    const byCount = [...this.counts].sort((a, b) => b[1] - a[1]);
    const figures = this.stats ? `; ${this.stats}` : '';
    return `${this.name}: ${this.total} inputs, ${this.accepted} accepted; rejections ${JSON.stringify(Object.fromEntries(byCount))}${figures}`;
  }

  /**
   * Asserts the generator's coverage: at least `minAccepted` of the inputs accepted, at least `minDeep`
   * (share) getting past the first checks (i.e. not rejected in one of the `shallow` categories), and
   * every category of `mustSee` seen at least once.
   */
  assertCoverage(opts: {
    minInputs?: number;
    minAccepted: number;
    shallow: readonly string[];
    minDeep: number;
    mustSee: readonly string[];
  }): void {
    console.log(this.summary());
    expect(this.total, `${this.name}: inputs`).toBeGreaterThanOrEqual(opts.minInputs ?? 100_000);
    expect(this.accepted / this.total, `${this.name}: share accepted`).toBeGreaterThanOrEqual(
      opts.minAccepted,
    );
    const deep = 1 - this.sum(opts.shallow) / this.total;
    expect(deep, `${this.name}: share past ${opts.shallow.join('/')}`).toBeGreaterThanOrEqual(opts.minDeep);
    for (const c of opts.mustSee) expect(this.counts.get(c) ?? 0, `${this.name}: ${c}`).toBeGreaterThan(0);
  }
}

/**
 * Turns error stack traces off until the returned function is called (it restores the limit). Capturing a
 * stack costs more than most rejections do, and the oracle needs only the class and message; a failure is
 * reproduced from the seed and the input the test prints.
 */
export function stacksOff(): () => void {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  return () => {
    Error.stackTraceLimit = limit;
  };
}

/** Where the time and memory of a fuzz loop went: figures to print, not to assert (the machine is shared). */
export class LoopStats {
  /** Slowest single input (generation and decoding), ms, and its index. */
  slowestMs = 0;
  slowestInput = -1;
  /** Most heap plus array-buffer memory seen (sampled every 1 000 inputs), MiB. */
  peakMiB = 0;
  /** Whole loop, ms. */
  totalMs = 0;

  /** One line for the test's output. */
  toString(): string {
    return `${this.totalMs.toFixed(0)} ms; slowest input #${this.slowestInput} ${this.slowestMs.toFixed(1)} ms; peak heap + buffers ${this.peakMiB.toFixed(0)} MiB`;
  }

  sample(i: number, ms: number): void {
    if (ms > this.slowestMs) {
      this.slowestMs = ms;
      this.slowestInput = i;
    }
    if (i % 1000 === 0) {
      const m = process.memoryUsage();
      this.peakMiB = Math.max(this.peakMiB, (m.heapUsed + m.arrayBuffers) / 2 ** 20);
    }
  }
}

/**
 * Runs `body` for inputs 0 … n − 1 with stack traces off ({@link stacksOff}), timing each input.
 *
 * @returns The loop's figures (printed by the caller).
 */
export function forInputs(n: number, body: (i: number) => void): LoopStats {
  const stats = new LoopStats();
  const restore = stacksOff();
  const t0 = performance.now();
  try {
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      body(i);
      stats.sample(i, performance.now() - t);
    }
  } finally {
    restore();
    stats.totalMs = performance.now() - t0;
  }
  return stats;
}

/** {@link forInputs} for a decoder that must be awaited. */
export async function forInputsAsync(n: number, body: (i: number) => Promise<void>): Promise<LoopStats> {
  const stats = new LoopStats();
  const restore = stacksOff();
  const t0 = performance.now();
  try {
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await body(i);
      stats.sample(i, performance.now() - t);
    }
  } finally {
    restore();
    stats.totalMs = performance.now() - t0;
  }
  return stats;
}

/** Throws `what` unless `condition` (a plain check: `expect` costs too much a million times over). */
export function check(condition: boolean, what: () => string): asserts condition {
  if (!condition) throw new Error(what());
}
