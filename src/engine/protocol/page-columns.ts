/**
 * Modelled deltas in columns. A modelled delta (payload mode `modelled`) carries page indices and versions
 * only; a background round holds up to 16 384 pages, and one `{ index, version, data }` object per page
 * (allocated by the primary, walked three times by the secondary, then collected) was most of the engine's
 * cost per page sent. The engine builds such a delta as two typed arrays instead; its `pages` array is built
 * only if something reads it (a runtime that serialises the delta, a test, a fault hook).
 *
 * The columns are trusted only while `pages` has never been read: once it has, anything may have changed
 * the array, so the engine reads the array like any other delta's. A copy of the delta (spread, clone)
 * has no columns.
 */
import type { ZeroClassTable } from '../memory/page-content.ts';
import type { DeltaPage, PageDelta } from './delta.ts';

/** Page indices and versions of a delta, in the delta's page order. */
export interface PageColumns {
  /** Page indices, ascending. */
  index: Uint32Array;
  /** Page versions, one per index. */
  version: Uint32Array;
  /**
   * The zero pages among them as the builder counted them with `classes`: a reader holding the same table
   * (the same seed, mix and guest) gets the same count without classing every page again.
   */
  zeroPages?: { classes: ZeroClassTable; count: number };
}

const pristine = new WeakMap<PageDelta, PageColumns>();

/**
 * A modelled delta (`modelled: true`, empty blob) of `columns`; its `pages` (all `data: null`) are built on
 * first read.
 */
export function columnarModelledDelta(
  header: Pick<PageDelta, 'vmId' | 'epoch' | 'seq' | 'kind'>,
  columns: PageColumns,
): PageDelta {
  let built: DeltaPage[] | undefined;
  // Keys in the same order as any other delta's; redefining `pages` keeps its place.
  const delta: PageDelta = {
    vmId: header.vmId,
    epoch: header.epoch,
    seq: header.seq,
    kind: header.kind,
    pages: [],
    blob: new Uint8Array(0),
    modelled: true,
  };
  Object.defineProperty(delta, 'pages', {
    enumerable: true,
    configurable: true,
    get(): DeltaPage[] {
      if (built === undefined) {
        pristine.delete(delta);
        const { index, version } = columns;
        built = new Array(index.length);
        for (let i = 0; i < index.length; i++) {
          built[i] = { index: index[i] as number, version: version[i] as number, data: null };
        }
      }
      return built;
    },
    set(value: DeltaPage[]) {
      pristine.delete(delta);
      built = value;
    },
  });
  pristine.set(delta, columns);
  return delta;
}

/** The columns of a delta made by {@link columnarModelledDelta} whose `pages` were never read, else undefined. */
export function pristineColumns(delta: PageDelta): PageColumns | undefined {
  return pristine.get(delta);
}
