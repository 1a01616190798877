import type { EmbeddedOptions, EmbeddedResult } from './types.ts';
import { createVm, newWorld } from './vm.ts';

export type { Delivery, EmbeddedOptions, EmbeddedResult, Faults, Node, SentMessage } from './types.ts';

/** Events one run may take before it is judged runaway, by default. */
export const DEFAULT_MAX_EVENTS = 20_000_000;

/**
 * The embedded runtime: primary and secondary in one process on a virtual clock, with a modelled link in
 * each direction and an in-memory delta store (an object lives as long as a queued delivery names it). Page
 * bytes (materialised mode) really cross: they are encoded, stored, fetched and verified by the secondary.
 * A run is a pure function of its options. (A fleet of VMs sharing the link: fleet.ts.)
 */
export function runEmbedded(options: EmbeddedOptions): EmbeddedResult {
  const { durationMs } = options;
  const world = newWorld(options.link);
  const vm = createVm(options, world, 0);
  const { queue } = world;
  // A guard against a node that keeps asking to be woken at the same instant.
  const maxEvents = options.maxEvents ?? DEFAULT_MAX_EVENTS;
  const progressEvery = durationMs / 20;
  let nextProgress = progressEvery;
  let events = 0;
  while (queue.size > 0 && queue.peekTime() <= durationMs) {
    const ev = queue.pop();
    if (!ev) break;
    const { at, item } = ev;
    if (++events > maxEvents) {
      throw new Error(`embedded run made no progress: ${maxEvents} events by ${at} ms of ${durationMs} ms`);
    }
    if (options.onProgress && at >= nextProgress) {
      options.onProgress(Math.min(1, at / durationMs));
      nextProgress = at + progressEvery;
    }
    vm.handle(at, item);
  }
  options.onProgress?.(1);
  vm.finish();
  return vm.result;
}
