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
