/**
 * Workload specifications: how the guest dirties its RAM. Rates are in pages per second of guest
 * running time; every write is a pure function of (seed, stream, write number), so a workload is a
 * deterministic function of (seed, guest time).
 */

/** No writes at all. */
export interface IdleWorkload {
  kind: 'idle';
}
/** Writes spread uniformly over all pages. */
export interface UniformWorkload {
  kind: 'uniform';
  /** Writes per second of guest time, pages/s. */
  rate: number;
}
/** A hot set rewritten constantly plus a cold region touched once each (first touch), in random order. */
export interface HotColdWorkload {
  kind: 'hotcold';
  /** Size of the hot set, pages (the lowest-numbered pages of the guest). */
  hotPages: number;
  /** Writes per second into the hot set, pages/s. */
  hotRate: number;
  /** First touches per second of cold pages, pages/s. */
  coldRate: number;
}
/** Zipf-distributed writes: a few pages get most writes. */
export interface ZipfWorkload {
  kind: 'zipf';
  /** Writes per second, pages/s. */
  rate: number;
  /** Zipf exponent s (> 0; 1 is classic). */
  exponent: number;
}
/**
 * A sequential stream through guest RAM, wrapping at the end — or, with `spanPages`, looping over a region
 * of that many pages (fio-like buffered writes: a file's page cache rewritten front to back, each page every
 * `spanPages / rate` seconds).
 */
export interface SequentialWorkload {
  kind: 'sequential';
  /** Pages written per second, pages/s. */
  rate: number;
  /** Pages in the looped region (default: the whole guest), pages. */
  spanPages?: number;
}
/** Buffered IO: a page-cache hot set rewritten constantly, with a thin uniform tail. */
export interface BufferedIoWorkload {
  kind: 'buffered-io';
  /** Writes per second, pages/s. */
  rate: number;
  /** Size of the rewritten hot set, pages. */
  hotPages: number;
  /** Fraction of writes going outside the hot set, 0..1. */
  tail: number;
}

/** Any workload. */
export type WorkloadSpec =
  | IdleWorkload
  | UniformWorkload
  | HotColdWorkload
  | ZipfWorkload
  | SequentialWorkload
  | BufferedIoWorkload;

/** Workload kind names. */
export const WORKLOAD_KINDS = ['idle', 'uniform', 'hotcold', 'zipf', 'sequential', 'buffered-io'] as const;
