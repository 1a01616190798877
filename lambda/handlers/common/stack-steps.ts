/**
 * What the stack's two chains (the pulse, pulse.ts; the monitor, monitor.ts) need to step a fleet's VMs:
 * the stack's documents, the registered VMs, each VM's node deps, a clock, and the bounds of one tick.
 */
import type { StateStore } from '../../../src/engine/ports.ts';
import type { NodeHandlerDeps } from './deps.ts';
import type { Observability } from './observability.ts';

/** The dependencies of a stack chain's steps. */
export interface StackStepDeps {
  /** The stack's state store (the pulse and monitor documents). */
  state: StateStore;
  /** The registered VMs (a cached listing). */
  vms: () => Promise<readonly string[]>;
  /** One VM's node deps, or undefined when it is not registered (any more) or its config is malformed. */
  vmDeps: (vmId: string) => Promise<NodeHandlerDeps | undefined>;
  /** Wall clock, ms since the Unix epoch. */
  now: () => number;
  /**
   * Wraps the per-VM steps (the deployed functions: usage-report.ts `measurePart`, so the cost model prices
   * them per VM and the rest per stack); default: runs them.
   */
  measureSteps?: <T>(work: () => Promise<T>) => Promise<T>;
  /** Logger and metrics of the chain. */
  obs: Observability;
  /** VMs stepped at the same time (default: the chain's own). */
  concurrency?: number;
  /** No VM's step starts once the tick is this old, ms (default: the chain's own). */
  budgetMs?: number;
}

/** A stack document as loaded by {@link loadStackDocument}. */
export interface LoadedStackDocument<T> {
  /** The document (empty when none is stored, or when what is stored is not one). */
  doc: T;
  /** The stored object's etag, if any: the next save replaces it by compare-and-swap. */
  etag?: string;
  /** Why what was stored is not a document (it was set aside for an empty one), if it was not. */
  malformed?: string;
}

/**
 * Loads one of the stack's chain documents (`_fleet/pulse.json`, `_fleet/monitor.json`). Both are records the
 * chains keep for themselves and rebuild within a tick or two, so one that does not parse (garbage, a format
 * this code does not read) is reported — `malformed`, the parser's one line — and read as empty over its
 * etag, instead of stopping every VM's pulse or monitor until an operator deletes it.
 *
 * @throws whatever the store throws (a read that failed is not a malformed document).
 */
export async function loadStackDocument<T>(
  state: StateStore,
  key: string,
  parse: (bytes: Uint8Array, key: string) => T,
  empty: () => T,
  malformedError: abstract new (...args: never[]) => Error,
): Promise<LoadedStackDocument<T>> {
  const d = await state.load(key);
  if (!d) return { doc: empty() };
  try {
    return { doc: parse(d.value, key), etag: d.etag };
  } catch (e) {
    if (!(e instanceof malformedError)) throw e;
    return { doc: empty(), etag: d.etag, malformed: e.message };
  }
}
