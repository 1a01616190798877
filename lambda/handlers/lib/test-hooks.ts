/**
 * Test hooks: environment switches that only integration tests set, all off by default and never set by
 * the stack. Each one makes a real failure happen on demand in a deployed function, so a test can show
 * what the system does about it.
 *
 * - {@link FETCH_DELAY_ENV} (`secondary-apply` only): every delta fetch waits this long before reading
 *   the object — a slow S3. A background load whose data takes longer than `APPLY_TIMEOUT_MS` to arrive
 *   is then abandoned whole by the engine (the step's time is taken after the fetch).
 */
import type { DeltaStore } from '../../../src/engine/ports.ts';
import { type Sleep, systemSleep } from '../../../src/runtime/cloud/index.ts';
import type { Env } from '../../adapters/env.ts';

/** Test hook: extra wait before each delta fetch of `secondary-apply`, ms (unset or 0: off). */
export const FETCH_DELAY_ENV = 'COLO_TEST_FETCH_DELAY_MS';

/** Longest fetch delay accepted, ms (Lambda's 15-minute ceiling). */
export const MAX_FETCH_DELAY_MS = 900_000;

/**
 * Reads {@link FETCH_DELAY_ENV}: 0 when unset or empty.
 *
 * @returns The delay, ms.
 * @throws Error when it is not an integer in [0, 900 000].
 */
export function fetchDelayFromEnv(env: Env = process.env): number {
  const raw = env[FETCH_DELAY_ENV]?.trim();
  if (!raw) return 0;
  const ms = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms > MAX_FETCH_DELAY_MS) {
    throw new Error(`${FETCH_DELAY_ENV} must be an integer in [0, ${MAX_FETCH_DELAY_MS}] ms, got ${raw}`);
  }
  return ms;
}

/**
 * A delta store whose reads each wait `delayMs` first (writes are untouched).
 *
 * @param delayMs - Wait before every `get`, ms.
 * @param sleep - How to wait; default a real timer.
 */
export function delayedDeltaStore(
  store: DeltaStore,
  delayMs: number,
  sleep: Sleep = systemSleep,
): DeltaStore {
  return {
    put: (key, bytes) => store.put(key, bytes),
    async get(key, options) {
      await sleep(delayMs);
      return store.get(key, options);
    },
  };
}
