/**
 * The embedded runtime's event loop, shared by a single run (run.ts) and a fleet (fleet.ts): pop the world's
 * events in time order up to the run's end, hand each to its VM, report progress, stop a runaway.
 */
import type { VmEvent, World } from './vm.ts';

/** Events one run may take before it is judged runaway, by default (a fleet multiplies it by its VMs). */
export const DEFAULT_MAX_EVENTS = 20_000_000;

/** How to drive a world. */
export interface DriveOptions {
  /** Simulated time to run, ms. */
  durationMs: number;
  /** Events after which the run is judged runaway (a node that keeps asking to be woken at one instant). */
  maxEvents: number;
  /** What the runaway error calls the run (`embedded run`, `fleet run`). */
  what: string;
  /** Called with the fraction of simulated time done, about 20 times and once at the end. */
  onProgress?: ((fraction: number) => void) | undefined;
}

/**
 * Runs the world's events up to `durationMs`, handing each to `handle` (which routes it to its VM).
 *
 * @returns The number of events handled.
 * @throws Error when more than `maxEvents` events are taken.
 */
export function drive(
  world: World,
  options: DriveOptions,
  handle: (at: number, item: VmEvent) => void,
): number {
  const { queue } = world;
  const { durationMs, maxEvents, onProgress } = options;
  const progressEvery = durationMs / 20;
  let nextProgress = progressEvery;
  let events = 0;
  while (queue.size > 0 && queue.peekTime() <= durationMs) {
    const ev = queue.pop();
    if (!ev) break;
    const { at, item } = ev;
    if (++events > maxEvents) {
      throw new Error(
        `${options.what} made no progress: ${maxEvents} events by ${at} ms of ${durationMs} ms`,
      );
    }
    if (onProgress && at >= nextProgress) {
      onProgress(Math.min(1, at / durationMs));
      nextProgress = at + progressEvery;
    }
    handle(at, item);
  }
  onProgress?.(1);
  return events;
}
