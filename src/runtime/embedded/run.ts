import { DEFAULT_MAX_EVENTS, drive } from './drive.ts';
import type { EmbeddedOptions, EmbeddedResult } from './types.ts';
import { createVm, newWorld } from './vm.ts';

export { DEFAULT_MAX_EVENTS } from './drive.ts';
export type {
  Delivery,
  EmbeddedOptions,
  EmbeddedResult,
  Faults,
  Node,
  RecordKeep,
  SentMessage,
} from './types.ts';
export { TOTALS_ONLY } from './types.ts';

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
  drive(
    world,
    {
      durationMs,
      maxEvents: options.maxEvents ?? DEFAULT_MAX_EVENTS,
      what: 'embedded run',
      onProgress: options.onProgress,
    },
    (at, item) => vm.handle(at, item),
  );
  vm.finish();
  return vm.result;
}
