import type { DeltaKind } from './messages.ts';

/** Guest page size in bytes. */
export const PAGE_SIZE = 4096;

/** One page in a delta. */
export interface DeltaPage {
  /** Page index in guest RAM (0-based). */
  index: number;
  /** Page version (number of writes the primary has made to it); lets the receiver verify content. */
  version: number;
  /**
   * Page bytes ({@link PAGE_SIZE} long), or `null` for a zero page (costs no payload).
   * In modelled payload mode non-zero pages also carry `null` and {@link PageDelta.modelled} is true.
   */
  data: Uint8Array | null;
}

/** A decoded page-delta object: the unit of page data kept in the delta store. */
export interface PageDelta {
  /** VM the data belongs to. */
  vmId: string;
  /** Epoch the data belongs to. */
  epoch: number;
  /** Sequence number of the `delta` message that announces it. */
  seq: number;
  /** What it carries. */
  kind: DeltaKind;
  /** Pages, sorted by strictly increasing index. Empty for `device-state`. */
  pages: DeltaPage[];
  /** Device-state bytes for `device-state`; empty otherwise. */
  blob: Uint8Array;
  /** True when page bytes were not built (modelled payload mode). Never set on the wire. */
  modelled?: boolean;
}
