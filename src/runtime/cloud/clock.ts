/** Time for the cloud runtime: a wall clock in Lambda, a virtual clock in tests and conformance runs. */

/** Returns the current time, ms (ms since the Unix epoch on the system clock; any origin on a virtual one). */
export type TimeSource = () => number;

/** Waits `ms` milliseconds (a virtual clock advances instead of waiting). */
export type Sleep = (ms: number) => Promise<void>;

/** The system clock, ms since the Unix epoch. */
export const systemNow: TimeSource = () => Date.now();

/** Waits on a timer, ms. */
export const systemSleep: Sleep = (ms) =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.ceil(ms))));

/**
 * A virtual clock: `now` reads it, `sleep` and `advance` move it forward. Never moves backwards.
 * Pass `clock.now` as the time source and `clock.sleep` as the sleep of an invocation.
 */
export class VirtualClock {
  #t: number;

  /** Starts the clock at `start`, ms. */
  constructor(start = 0) {
    this.#t = start;
  }

  /** Current virtual time, ms. */
  readonly now: TimeSource = () => this.#t;

  /** Advances the clock by `ms` (negative values are ignored) and resolves at once. */
  readonly sleep: Sleep = async (ms) => {
    this.advance(ms);
  };

  /** Advances the clock by `ms`, ms (negative or non-finite values are ignored). */
  advance(ms: number): void {
    if (Number.isFinite(ms) && ms > 0) this.#t += ms;
  }

  /** Moves the clock to `t` if that is later, ms. */
  setTo(t: number): void {
    if (Number.isFinite(t) && t > this.#t) this.#t = t;
  }
}
